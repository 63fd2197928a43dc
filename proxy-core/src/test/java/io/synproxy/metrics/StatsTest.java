package io.synproxy.metrics;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StatsTest {
    @Test
    void shouldShowTheOperationsCountersSummedOverLoopsOnlyWhenNonZero() {
        Counters a = new Counters();
        Counters b = new Counters();
        Stats stats = new Stats(List.of(a, b), () -> 3);
        String quiet = stats.line();
        assertTrue(quiet.startsWith("stats: syn=0 "), quiet);
        assertTrue(quiet.contains(" live=3 "), quiet);
        assertFalse(quiet.contains("denied") || quiet.contains("source_") || quiet.contains("invalid_ack_rst"), quiet);

        a.add(Counter.SYN_DENIED, 5);
        b.add(Counter.SYN_DENIED, 2);
        b.increment(Counter.SOURCE_LIMIT_RST);
        a.add(Counter.INVALID_ACK_RST, 4);
        String line = stats.line();
        assertTrue(line.startsWith(quiet + " "), "the existing keys first, unchanged: " + line);
        assertEquals(" syn_denied=7 source_limit_rst=1 invalid_ack_rst=4", line.substring(quiet.length()));
    }
}
