package io.synproxy.bench;

import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The medians of several rounds: each ratio taken within its round, then the middle of them. */
class ReportTest {

    @Test
    void mediansTakeEachRatioWithinItsRound() {
        // Round 2's host is slow for both: its absolute p99s are high. The ratio of the medians would be 4 / 2 = 2.00;
        // the median of the rounds' own ratios (1.5, 1.5, 4.0) is 1.50.
        Scenario k = Scenario.KERNEL_SYNCOOKIES;
        Scenario p = Scenario.SYNPROXY;
        List<List<Measurement>> rounds = List.of(
                List.of(measurement(k, 10_000, 2_000, 1200), measurement(p, 10_000, 3_000, 1200)),
                List.of(measurement(k, 9_000, 8_000, 1200), measurement(p, 9_900, 12_000, 1200)),
                List.of(measurement(k, 11_000, 1_000, 1200), measurement(p, 10_000, 4_000, 1190)));
        Table t = Report.medians(rounds);
        String text = t.text();
        List<String> lines = text.lines().toList();
        String synproxy = lines.stream().filter(l -> l.startsWith("synproxy")).findFirst().orElseThrow();
        assertTrue(synproxy.contains("1.50 (1.50 to 4.00)"), synproxy);
        // The median p99 itself: 3, 12 and 4 ms.
        assertTrue(synproxy.contains("4.00"), synproxy);
        // SYN/ACK ratios 1.0, 1.1, 0.909: median 1.00.
        assertTrue(synproxy.contains(" 1.00 "), synproxy);
        // The lowest share of clients served, not the median: 1190 of 1200.
        assertTrue(synproxy.contains("99.17%"), synproxy);
        String kernel = lines.stream().filter(l -> l.startsWith("kernel-syncookies")).findFirst().orElseThrow();
        assertTrue(kernel.contains("1.00 (1.00 to 1.00)"), kernel);
    }

    @Test
    void medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        assertEquals(2.5, Report.median(List.of(4.0, 1.0, 2.0, 3.0)));
        assertEquals(3.0, Report.median(List.of(3.0)));
        assertTrue(Double.isNaN(Report.median(List.of())));
    }

    @Test
    void csvNamesEachRowsRound() {
        List<Measurement> ms = List.of(measurement(Scenario.KERNEL_SYNCOOKIES, 10_000, 2_000, 1200),
                measurement(Scenario.SYNPROXY, 10_000, 3_000, 1200));
        List<String> lines = Report.csv(ms, List.of(1, 2)).lines().toList();
        assertTrue(lines.getFirst().endsWith(",round"), lines.getFirst());
        assertTrue(lines.get(1).endsWith(",1"), lines.get(1));
        assertTrue(lines.get(2).endsWith(",2"), lines.get(2));
    }

    /** A scenario's measurement whose clients all took {@code p99Micros} to their first byte. */
    private static Measurement measurement(Scenario s, double synAcks, long p99Micros, long succeeded) {
        Histogram connect = new Histogram(3);
        Histogram firstByte = new Histogram(3);
        for (int i = 0; i < 1200; i++) {
            connect.recordValue(100);
            firstByte.recordValue(p99Micros);
        }
        LegitClients.Result r = new LegitClients.Result(1200, succeeded, 1200 - succeeded, 0, 0, connect, firstByte);
        return new Measurement(s, "SYN", "txring", 10_000, 10_000, 10_500, synAcks, r, 0.1,
                s == Scenario.SYNPROXY ? 0.12 : Double.NaN, 0.4, 0.05, 90, 92, 500, "");
    }
}
