package io.synproxy.cookie;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class KeyRingTest {

    private static final long PERIOD = 1_000;

    private final AtomicLong clock = new AtomicLong(10 * PERIOD);

    static byte[] secret(int length, int seed) {
        byte[] s = new byte[length];
        for (int i = 0; i < length; i++) {
            s[i] = (byte) (seed * 31 + i);
        }
        return s;
    }

    private KeyRing ring(byte[] secret) {
        return new KeyRing(secret, PERIOD, clock::get);
    }

    /** The key a fresh ring reports for the slot of the current generation. */
    private long[] currentKey(KeyRing r) {
        int p = r.currentParity();
        return new long[] {r.k0(p), r.k1(p)};
    }

    @Test
    void shouldReportTheParityOfTheCurrentGeneration() {
        KeyRing r = ring(secret(32, 1));
        for (long t = -3 * PERIOD; t < 5 * PERIOD; t += PERIOD / 4) {
            clock.set(t);
            assertEquals((int) Math.floorDiv(t, PERIOD) & 1, r.currentParity(), "t=" + t);
        }
    }

    @Test
    void shouldKeepThePreviousGenerationKeyInTheOtherSlot() {
        KeyRing r = ring(secret(32, 1));
        int p = r.currentParity();
        long k0 = r.k0(p);
        long k1 = r.k1(p);

        clock.addAndGet(PERIOD);
        int next = r.currentParity();
        assertEquals(p ^ 1, next);
        assertEquals(k0, r.k0(p));
        assertEquals(k1, r.k1(p));
        assertNotEquals(k0, r.k0(next));
        assertNotEquals(k1, r.k1(next));

        clock.addAndGet(PERIOD);
        r.refresh();
        assertNotEquals(k0, r.k0(p), "the slot of g must be overwritten at g + 2");
    }

    @Test
    void shouldNotChangeKeysWithinAGeneration() {
        KeyRing r = ring(secret(32, 1));
        clock.set(7 * PERIOD);
        long[] first = currentKey(r);
        clock.set(8 * PERIOD - 1);
        long[] last = currentKey(r);
        assertEquals(first[0], last[0]);
        assertEquals(first[1], last[1]);
    }

    @Test
    void shouldDeriveTheSameKeysFromTheSameSecretRegardlessOfHistory() {
        KeyRing early = ring(secret(32, 1));
        clock.addAndGet(5 * PERIOD);
        early.refresh();
        KeyRing late = ring(secret(32, 1));
        for (int parity = 0; parity < 2; parity++) {
            assertEquals(early.k0(parity), late.k0(parity));
            assertEquals(early.k1(parity), late.k1(parity));
        }
    }

    @Test
    void shouldFillBothSlotsAfterAJumpOfSeveralGenerations() {
        KeyRing jumped = ring(secret(32, 1));
        clock.addAndGet(7 * PERIOD);
        jumped.refresh();
        KeyRing fresh = ring(secret(32, 1));
        for (int parity = 0; parity < 2; parity++) {
            assertEquals(fresh.k0(parity), jumped.k0(parity));
            assertEquals(fresh.k1(parity), jumped.k1(parity));
        }
    }

    @Test
    void shouldDeriveDifferentKeysFromDifferentSecrets() {
        long[] a = currentKey(ring(secret(32, 1)));
        long[] b = currentKey(ring(secret(32, 2)));
        long[] prefix = currentKey(ring(secret(16, 1))); // the first 16 bytes of secret a
        assertNotEquals(a[0], b[0]);
        assertNotEquals(a[1], b[1]);
        assertNotEquals(a[0], prefix[0]);
        assertNotEquals(a[1], prefix[1]);
    }

    @Test
    void shouldUseUnrelatedRandomSecrets() {
        long[] a = currentKey(KeyRing.random(PERIOD, clock::get));
        long[] b = currentKey(KeyRing.random(PERIOD, clock::get));
        assertNotEquals(a[0], b[0]);
    }

    @Test
    void shouldAcceptSecretsOf16To64Bytes() {
        ring(secret(KeyRing.MIN_SECRET_BYTES, 1));
        ring(secret(KeyRing.MAX_SECRET_BYTES, 1));
        assertThrows(IllegalArgumentException.class, () -> ring(secret(15, 1)));
        assertThrows(IllegalArgumentException.class, () -> ring(secret(65, 1)));
        assertThrows(NullPointerException.class, () -> ring(null));
    }

    @Test
    void shouldRejectNonPositivePeriodAndMissingClock() {
        assertThrows(IllegalArgumentException.class, () -> new KeyRing(secret(32, 1), 0, clock::get));
        assertThrows(IllegalArgumentException.class, () -> new KeyRing(secret(32, 1), -5, clock::get));
        assertThrows(NullPointerException.class, () -> new KeyRing(secret(32, 1), PERIOD, null));
    }

    @Test
    void shouldNotDependOnTheCallerKeepingTheSecretArray() {
        byte[] s = secret(32, 1);
        KeyRing r = ring(s);
        int p = r.currentParity();
        long k0 = r.k0(p);
        long k1 = r.k1(p);
        Arrays.fill(s, (byte) 0);
        // A new generation recomputes both slots, including the one holding the key we saw.
        clock.addAndGet(PERIOD);
        r.refresh();
        assertEquals(k0, r.k0(p));
        assertEquals(k1, r.k1(p));
    }
}
