package io.synproxy.policy;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenBucketTest {
    private static final long SECOND = 1_000_000_000L;

    private static int take(TokenBucket b, long now, int tries) {
        int n = 0;
        for (int i = 0; i < tries; i++) {
            n += b.tryTake(now) ? 1 : 0;
        }
        return n;
    }

    @Test
    void shouldGiveTheBurstAtOnceThenNothingUntilItRefills() {
        long t0 = 5 * SECOND;
        TokenBucket b = new TokenBucket(1000, 100, t0);
        assertEquals(100, take(b, t0, 1000));
        assertFalse(b.tryTake(t0));
        assertEquals(1, take(b, t0 + SECOND / 1000, 10), "one token a millisecond");
        assertEquals(100, take(b, t0 + 10 * SECOND, 1000), "never more than the burst after a quiet spell");
    }

    @Test
    void shouldGiveTheRateOverTime() {
        long t0 = 0;
        TokenBucket b = new TokenBucket(1000, 1, t0);
        int given = 0;
        for (long t = t0; t < t0 + SECOND; t += SECOND / 10_000) {
            given += b.tryTake(t) ? 1 : 0;
        }
        assertEquals(1000, given, 1);
    }

    @Test
    void shouldNeverGiveATokenAtRateZero() {
        TokenBucket b = new TokenBucket(0, 1, 0);
        assertEquals(0, take(b, 0, 10));
        assertEquals(0, take(b, 1000 * SECOND, 10));
    }

    @Test
    void shouldNotGiveMoreThanTheRateToSeveralThreads() throws InterruptedException {
        long t0 = System.nanoTime();
        TokenBucket b = new TokenBucket(1, 50, t0);
        int[] got = new int[4];
        Thread[] threads = new Thread[got.length];
        for (int i = 0; i < threads.length; i++) {
            int me = i;
            threads[i] = new Thread(() -> got[me] = take(b, t0, 10_000));
            threads[i].start();
        }
        int total = 0;
        for (int i = 0; i < threads.length; i++) {
            threads[i].join();
            total += got[i];
        }
        assertEquals(50, total, "exactly the burst, shared");
    }

    @Test
    void shouldKeepOneLongPerSourceInTheTableForm() {
        long interval = SECOND / 10;
        long tolerance = 2 * interval;
        long tat = 0;
        int given = 0;
        for (int i = 0; i < 10; i++) {
            long next = TokenBucket.take(tat, 0, interval, tolerance);
            if (next != Long.MIN_VALUE) {
                tat = next;
                given++;
            }
        }
        assertEquals(3, given, "burst of three");
        assertTrue(TokenBucket.take(tat, interval, interval, tolerance) != Long.MIN_VALUE);
    }
}
