package io.synproxy.relay;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecentTuplesTest {
    private static final long V4 = 0xFFFF_0A00_0002L;

    @Test
    void shouldKnowATupleForItsWindowOnly() {
        RecentTuples t = new RecentTuples();
        t.add(0, V4, 40000, 1_000);
        assertFalse(t.seenAgain(0, V4, 40000, 1_000 + RecentTuples.WINDOW_NANOS));
    }

    @Test
    void shouldStartTheWindowAgainWhenSeenAgain() {
        RecentTuples t = new RecentTuples();
        long w = RecentTuples.WINDOW_NANOS;
        t.add(0, V4, 40000, 0);
        assertTrue(t.seenAgain(0, V4, 40000, w - 1));
        assertTrue(t.seenAgain(0, V4, 40000, 2 * w - 2), "a retransmission keeps it known");
        assertFalse(t.seenAgain(0, V4, 40000, 3 * w - 2));
    }

    @Test
    void shouldTellPortsAndAddressesApart() {
        RecentTuples t = new RecentTuples();
        t.add(0, V4, 40000, 0);
        assertFalse(t.seenAgain(0, V4, 40001, 1));
        assertFalse(t.seenAgain(0, V4 + 1, 40000, 1));
        assertFalse(t.seenAgain(1, V4, 40000, 1));
        assertFalse(new RecentTuples().seenAgain(0, 0, 0, 0), "an empty ring knows no tuple, not even zeros");
    }

    @Test
    void shouldForgetTheOldestWhenFull() {
        RecentTuples t = new RecentTuples();
        for (int p = 0; p <= RecentTuples.SIZE; p++) {
            t.add(0, V4, 50000 + p, 0);
        }
        assertFalse(t.seenAgain(0, V4, 50000, 1));
        for (int p = 1; p <= RecentTuples.SIZE; p++) {
            assertTrue(t.seenAgain(0, V4, 50000 + p, 1), "port " + (50000 + p));
        }
    }
}
