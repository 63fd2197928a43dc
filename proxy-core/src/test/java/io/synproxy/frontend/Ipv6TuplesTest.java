package io.synproxy.frontend;

import io.synproxy.handshake.AckVerdict;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** 128-bit tuples in {@link LiveTuples} and {@link RecentlyClosed}: IPv6 and IPv4-mapped side by side. */
class Ipv6TuplesTest {
    private static final long HI = 0xfd00_0200_0000_0000L;

    @Test
    void shouldKeepIpv6TuplesThatDifferInAnyHalfApart() {
        LiveTuples t = new LiveTuples(4);
        assertTrue(t.put(HI, 2, 1000, HI, 1, 0L));
        assertFalse(t.put(HI, 2, 1000, HI, 1, 0L), "already present");
        assertFalse(t.contains(HI ^ 1, 2, 1000, HI, 1));
        assertFalse(t.contains(HI, 3, 1000, HI, 1));
        assertFalse(t.contains(HI, 2, 1001, HI, 1));
        assertFalse(t.contains(HI, 2, 1000, HI ^ (1L << 63), 1));
        assertFalse(t.contains(HI, 2, 1000, HI, 0));
        assertTrue(t.remove(HI, 2, 1000, HI, 1));
        assertEquals(0, t.size());
    }

    @Test
    void shouldNotConfuseAnIpv4TupleWithAnIpv6OneOfTheSameLowBits() {
        LiveTuples t = new LiveTuples(16);
        t.put(0, AckVerdict.mapped(0x0a000002), 5000, 0, AckVerdict.mapped(0x0a000001), 0L);
        assertTrue(t.contains(0, AckVerdict.mapped(0x0a000002), 5000, 0, AckVerdict.mapped(0x0a000001)),
            "the IPv4 tuple, in its mapped form");
        assertFalse(t.contains(0, 0x0a000002L, 5000, 0, 0x0a000001L), "::10.0.0.2 (compatible form) is another tuple");
        t.put(0, 0x0a000002L, 5000, 0, 0x0a000001L, 0L);
        assertEquals(2, t.size());
        assertTrue(t.remove(0, AckVerdict.mapped(0x0a000002), 5000, 0, AckVerdict.mapped(0x0a000001)));
        assertTrue(t.contains(0, 0x0a000002L, 5000, 0, 0x0a000001L));
    }

    @Test
    void shouldMatchAHashSetUnderRandomAddsAndRemovesAcrossGrowth() {
        Random r = new Random(66);
        LiveTuples t = new LiveTuples(1);
        Set<List<Long>> model = new HashSet<>();
        for (int i = 0; i < 100_000; i++) {
            // Few distinct values so that the same tuples come back and probe chains get long.
            long cHi = HI | r.nextInt(4);
            long cLo = r.nextInt(8);
            int port = r.nextInt(4);
            long lLo = r.nextInt(2);
            List<Long> key = List.of(cHi, cLo, (long) port, HI, lLo);
            if (r.nextInt(3) == 0) {
                assertEquals(model.remove(key), t.remove(cHi, cLo, port, HI, lLo));
            } else {
                assertEquals(model.add(key), t.put(cHi, cLo, port, HI, lLo, 0L));
            }
            assertEquals(model.size(), t.size());
        }
        for (List<Long> k : model) {
            assertTrue(t.contains(k.get(0), k.get(1), k.get(2).intValue(), k.get(3), k.get(4)));
        }
    }

    @Test
    void shouldRememberAndExpireClosedIpv6Tuples() {
        RecentlyClosed closed = new RecentlyClosed(4, 1000);
        closed.add(HI, 2, 1000, HI, 1, 7, 0);
        assertTrue(closed.isnOf(HI, 2, 1000, HI, 1, 999) >= 0);
        assertFalse(closed.isnOf(HI, 3, 1000, HI, 1, 999) >= 0);
        assertFalse(closed.isnOf(HI, 2, 1000, HI, 1, 1000) >= 0, "expired after the TTL");
        closed.add(HI, 2, 1000, HI, 1, 7, 2000);
        closed.forget(HI, 2, 1000, HI, 1);
        assertFalse(closed.isnOf(HI, 2, 1000, HI, 1, 2001) >= 0, "a new SYN forgets the tuple");
    }
}
