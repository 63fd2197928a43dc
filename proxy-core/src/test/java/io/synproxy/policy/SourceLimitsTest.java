package io.synproxy.policy;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SourceLimitsTest {
    private static final long SECOND = 1_000_000_000L;

    private static long[] v4(int a, int b, int c, int d) {
        return PrefixSetTest.key(a + "." + b + "." + c + "." + d);
    }

    private static int acquire(SourceLimits l, long[] k, long now) {
        return l.acquire(k[0], k[1], now);
    }

    @Test
    void shouldRefuseTheConnectionBeyondTheLimitUntilOneCloses() {
        SourceLimits l = new SourceLimits(2, 0, 32, 128, 64);
        long[] a = v4(10, 0, 0, 1);
        assertEquals(SourceLimits.ADMITTED, acquire(l, a, 0));
        assertEquals(SourceLimits.ADMITTED, acquire(l, a, 0));
        assertEquals(SourceLimits.OVER_CONNECTIONS, acquire(l, a, 0));
        assertEquals(SourceLimits.ADMITTED, acquire(l, v4(10, 0, 0, 2), 0), "another source has its own count");
        l.release(a[0], a[1]);
        assertEquals(1, l.liveOf(a[0], a[1], 0));
        assertEquals(SourceLimits.ADMITTED, acquire(l, a, 0));
    }

    @Test
    void shouldCountAWholeNetworkAsOneSourceWithASourcePrefix() {
        SourceLimits l = new SourceLimits(1, 0, 24, 64, 64);
        assertEquals(SourceLimits.ADMITTED, acquire(l, v4(192, 0, 2, 1), 0));
        assertEquals(SourceLimits.OVER_CONNECTIONS, acquire(l, v4(192, 0, 2, 200), 0));
        assertEquals(SourceLimits.ADMITTED, acquire(l, v4(192, 0, 3, 1), 0));
        long[] six = PrefixSetTest.key("2001:db8:0:1::1");
        long[] sameSlash64 = PrefixSetTest.key("2001:db8:0:1:ffff::9");
        assertEquals(SourceLimits.ADMITTED, acquire(l, six, 0));
        assertEquals(SourceLimits.OVER_CONNECTIONS, acquire(l, sameSlash64, 0));
        assertEquals(SourceLimits.ADMITTED, acquire(l, PrefixSetTest.key("2001:db8:0:2::1"), 0));
    }

    @Test
    void shouldRefuseBeyondTheRateAndAdmitAgainAfterTheRefill() {
        SourceLimits l = new SourceLimits(0, 5, 32, 128, 64);
        long[] a = v4(10, 0, 0, 1);
        long t0 = 7 * SECOND;
        for (int i = 0; i < 5; i++) {
            assertEquals(SourceLimits.ADMITTED, acquire(l, a, t0), "burst of five, connection " + i);
            l.release(a[0], a[1]);
        }
        assertEquals(SourceLimits.OVER_RATE, acquire(l, a, t0));
        assertEquals(SourceLimits.ADMITTED, acquire(l, a, t0 + SECOND / 5), "one token each fifth of a second");
    }

    @Test
    void shouldAdmitUntrackedWhenTheSetIsFullAndReuseEntriesOnceFree() {
        SourceLimits l = new SourceLimits(1, 0, 32, 128, SourceLimits.WAYS);
        assertEquals(SourceLimits.WAYS, l.capacity());
        for (int i = 0; i < SourceLimits.WAYS; i++) {
            assertEquals(SourceLimits.ADMITTED, acquire(l, v4(10, 0, 0, i + 1), 0));
        }
        long[] late = v4(10, 0, 1, 1);
        assertEquals(SourceLimits.TABLE_FULL, acquire(l, late, 0));
        long[] first = v4(10, 0, 0, 1);
        l.release(first[0], first[1]);
        assertEquals(SourceLimits.ADMITTED, acquire(l, late, 0), "a source without connection frees its entry");
    }

    @Test
    void shouldBoundItsMemoryWhateverTheNumberOfSources() {
        SourceLimits l = new SourceLimits(1, 10, 32, 128, 1000);
        assertEquals(1024, l.capacity());
        assertEquals(1024L * SourceLimits.ENTRY_BYTES, l.bytes());
        int full = 0;
        for (int i = 0; i < 100_000; i++) {
            full += acquire(l, v4(10, i >>> 16, (i >>> 8) & 0xff, i & 0xff), 0) == SourceLimits.TABLE_FULL ? 1 : 0;
        }
        assertTrue(full >= 100_000 - 1024, full + " admitted untracked of 100,000 (1,024 entries)");
        assertEquals(1024L * SourceLimits.ENTRY_BYTES, l.bytes());
    }

    @Test
    void shouldIgnoreAReleaseOfAnUntrackedSource() {
        SourceLimits l = new SourceLimits(1, 0, 32, 128, 64);
        long[] a = v4(10, 0, 0, 1);
        l.release(a[0], a[1]);
        assertEquals(SourceLimits.ADMITTED, acquire(l, a, 0));
        assertEquals(SourceLimits.OVER_CONNECTIONS, acquire(l, a, 0));
    }
}
