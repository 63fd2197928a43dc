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
}
