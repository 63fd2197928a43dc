package io.synproxy.config;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OperationsTest {
    @Test
    void shouldParseRatesPerSecondAndPerMinute() throws ConfigException {
        assertEquals(100, Operations.parseRate("--x", "100/s"));
        assertEquals(100, Operations.parseRate("--x", "100"));
        assertEquals(100, Operations.parseRate("--x", "6000/m"));
        assertEquals(1, Operations.parseRate("--x", "1/m"), "a positive rate stays positive");
        assertEquals(0, Operations.parseRate("--x", "0"));
        assertThrows(ConfigException.class, () -> Operations.parseRate("--x", "fast"));
        assertThrows(ConfigException.class, () -> Operations.parseRate("--x", "-1/s"));
    }

    @Test
    void shouldParseSourcePrefixes() throws ConfigException {
        assertArrayEquals(new int[] {24, 64}, Operations.parseSourcePrefix("/24,/64"));
        assertArrayEquals(new int[] {24, 64}, Operations.parseSourcePrefix("24,64"));
        assertArrayEquals(new int[] {24, 128}, Operations.parseSourcePrefix("/24"));
        assertArrayEquals(new int[] {32, 64}, Operations.parseSourcePrefix("/64"));
        assertThrows(ConfigException.class, () -> Operations.parseSourcePrefix("/a,/b"));
        assertThrows(ConfigException.class, () -> Operations.parseSourcePrefix("1,2,3"));
    }

    @Test
    void shouldRejectOutOfRangeValues() {
        assertThrows(ConfigException.class, () -> new Operations(null, List.of(), List.of(), List.of(), List.of(),
                -1, 0, 32, 128, 1000).validate());
        assertThrows(ConfigException.class, () -> new Operations(null, List.of(), List.of(), List.of(), List.of(),
                0, 0, 33, 128, 1000).validate());
        assertThrows(ConfigException.class, () -> new Operations(null, List.of(), List.of(), List.of(), List.of(),
                0, 0, 32, 0, 1000).validate());
    }

    @Test
    void shouldLimitSourcesOnlyWhenALimitIsSet() throws ConfigException {
        Operations d = Operations.defaults();
        d.validate();
        assertFalse(d.limitsSources());
        assertEquals(Operations.DEFAULT_INVALID_ACK_RST_RATE, d.invalidAckRstRate());
        assertTrue(new Operations(null, null, null, null, null, 0, 5, 32, 128, 0).limitsSources());
    }
}
