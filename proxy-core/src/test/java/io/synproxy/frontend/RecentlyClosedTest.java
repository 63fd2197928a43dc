package io.synproxy.frontend;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecentlyClosedTest {
    private static final int CLIENT = 0x0A000002;
    private static final int LOCAL = 0x0A000001;

    @Test
    void shouldRememberAClosedTupleUntilItsTimeToLiveEnds() {
        Ipv4Closed closed = new Ipv4Closed(16, 60_000);
        closed.add(CLIENT, 40000, LOCAL, 7, 1_000);
        assertTrue(closed.contains(CLIENT, 40000, LOCAL, 1_000));
        assertTrue(closed.contains(CLIENT, 40000, LOCAL, 60_999));
        assertFalse(closed.contains(CLIENT, 40000, LOCAL, 61_000), "expired after the TTL");
        assertEquals(0, closed.size());
    }

    @Test
    void shouldTellTuplesApartByEveryField() {
        Ipv4Closed closed = new Ipv4Closed(16, 60_000);
        closed.add(CLIENT, 40000, LOCAL, 7, 0);
        assertFalse(closed.contains(CLIENT, 40001, LOCAL, 0));
        assertFalse(closed.contains(CLIENT + 1, 40000, LOCAL, 0));
        assertFalse(closed.contains(CLIENT, 40000, LOCAL + 1, 0));
    }

    @Test
    void shouldDropTheOldestWhenFullSoMemoryStaysBounded() {
        Ipv4Closed closed = new Ipv4Closed(4, 60_000);
        for (int port = 1; port <= 10; port++) {
            closed.add(CLIENT, port, LOCAL, 7, port);
        }
        assertEquals(4, closed.size());
        for (int port = 1; port <= 6; port++) {
            assertFalse(closed.contains(CLIENT, port, LOCAL, 10), "evicted: port " + port);
        }
        for (int port = 7; port <= 10; port++) {
            assertTrue(closed.contains(CLIENT, port, LOCAL, 10), "kept: port " + port);
        }
    }

    @Test
    void shouldForgetATupleWhenItsClientStartsANewConnection() {
        Ipv4Closed closed = new Ipv4Closed(4, 60_000);
        closed.add(CLIENT, 40000, LOCAL, 7, 0);
        closed.forget(CLIENT, 40000, LOCAL);
        assertFalse(closed.contains(CLIENT, 40000, LOCAL, 1));
        // Its stale FIFO slot expires later without disturbing a re-added tuple's own entry.
        closed.add(CLIENT, 40000, LOCAL, 7, 30_000);
        assertTrue(closed.contains(CLIENT, 40000, LOCAL, 60_001), "the re-added entry lives on its own TTL");
    }

    @Test
    void shouldCountATupleClosedTwiceOnce() {
        Ipv4Closed closed = new Ipv4Closed(4, 60_000);
        closed.add(CLIENT, 40000, LOCAL, 7, 0);
        closed.add(CLIENT, 40000, LOCAL, 7, 5);
        assertEquals(1, closed.size());
    }

    @Test
    void shouldGrowOnDemandKeepingOrderAndTheNewestSlotOfATupleClosedTwice() {
        int initial = RecentlyClosed.INITIAL_SLOTS;
        Ipv4Closed closed = new Ipv4Closed(4 * initial, 1_000);
        assertEquals(initial, closed.table.slots(), "an idle table holds only the first slots");
        // Wrap the FIFO before it grows: the first half expires, the second half and more come after it.
        for (int port = 1; port <= initial; port++) {
            closed.add(CLIENT, port, LOCAL, port, port <= initial / 2 ? 0 : 500);
        }
        closed.add(CLIENT, initial + 1, LOCAL, 1, 1_000); // expires the first half, lands in slot 0
        // Port initial closed again: its newest entry is the one that must survive the older slot's expiry.
        closed.add(CLIENT, initial, LOCAL, 99, 1_200);
        for (int port = initial + 2; port <= 2 * initial + 1; port++) {
            closed.add(CLIENT, port, LOCAL, port, 1_300);
        }
        assertEquals(2 * initial, closed.table.slots(), "grew once the wrapped FIFO was full");
        assertEquals(initial + initial / 2 + 1, closed.size());
        assertFalse(closed.contains(CLIENT, 1, LOCAL, 1_300));
        assertEquals(initial / 2 + 1, closed.isnOf(CLIENT, initial / 2 + 1, LOCAL, 1_300));
        assertEquals(99, closed.isnOf(CLIENT, initial, LOCAL, 1_300));
        // At 1,500 the entries added at 500 expire in order, the older slot of port initial among them.
        assertFalse(closed.contains(CLIENT, initial / 2 + 1, LOCAL, 1_500));
        assertEquals(99, closed.isnOf(CLIENT, initial, LOCAL, 1_500), "kept by its newest slot");
        assertEquals(1, closed.isnOf(CLIENT, initial + 1, LOCAL, 1_500));
        assertEquals(2 * initial + 1, closed.isnOf(CLIENT, 2 * initial + 1, LOCAL, 1_500));
        assertFalse(closed.contains(CLIENT, initial, LOCAL, 2_200), "the newest entry expires on its own TTL");
    }

    @Test
    void shouldStopGrowingAtTheCapacityAndDropTheOldest() {
        int capacity = RecentlyClosed.INITIAL_SLOTS * 3;
        Ipv4Closed closed = new Ipv4Closed(capacity, 60_000);
        for (int port = 1; port <= capacity + 10; port++) {
            closed.add(CLIENT, port, LOCAL, 7, port);
        }
        assertEquals(capacity, closed.table.slots());
        assertEquals(capacity, closed.size());
        assertFalse(closed.contains(CLIENT, 10, LOCAL, capacity + 10));
        assertTrue(closed.contains(CLIENT, 11, LOCAL, capacity + 10));
    }
}
