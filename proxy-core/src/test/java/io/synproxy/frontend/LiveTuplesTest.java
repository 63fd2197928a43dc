package io.synproxy.frontend;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LiveTuplesTest {
    private static final int CLIENT = 0x0A000002;
    private static final int LOCAL = 0x0A000001;
    private static final int OPERATIONS = 200_000;

    @Test
    void shouldAddContainAndRemoveATuple() {
        Ipv4Tuples tuples = new Ipv4Tuples(16);
        assertFalse(tuples.contains(CLIENT, 40000, LOCAL));

        assertTrue(tuples.add(CLIENT, 40000, LOCAL));
        assertTrue(tuples.contains(CLIENT, 40000, LOCAL));
        assertEquals(1, tuples.size());

        assertTrue(tuples.remove(CLIENT, 40000, LOCAL));
        assertFalse(tuples.contains(CLIENT, 40000, LOCAL));
        assertEquals(0, tuples.size());
    }

    @Test
    void shouldReturnFalseWhenAddingATupleThatIsAlreadyPresent() {
        Ipv4Tuples tuples = new Ipv4Tuples(16);
        assertTrue(tuples.add(CLIENT, 40000, LOCAL));
        assertFalse(tuples.add(CLIENT, 40000, LOCAL));
        assertEquals(1, tuples.size());
        assertTrue(tuples.contains(CLIENT, 40000, LOCAL));
    }

    @Test
    void shouldReturnFalseWhenRemovingAnAbsentTuple() {
        Ipv4Tuples tuples = new Ipv4Tuples(16);
        assertFalse(tuples.remove(CLIENT, 40000, LOCAL), "empty table");
        tuples.add(CLIENT, 40000, LOCAL);
        assertFalse(tuples.remove(CLIENT, 40001, LOCAL), "other tuple");
        assertTrue(tuples.remove(CLIENT, 40000, LOCAL));
        assertFalse(tuples.remove(CLIENT, 40000, LOCAL), "already removed");
        assertEquals(0, tuples.size());
    }

    @Test
    void shouldCountDistinctTuplesOnly() {
        Ipv4Tuples tuples = new Ipv4Tuples(16);
        for (int port = 1000; port < 1010; port++) {
            tuples.add(CLIENT, port, LOCAL);
            tuples.add(CLIENT, port, LOCAL);
        }
        assertEquals(10, tuples.size());
        tuples.remove(CLIENT, 1000, LOCAL);
        tuples.remove(CLIENT, 1000, LOCAL);
        tuples.remove(CLIENT, 5000, LOCAL);
        assertEquals(9, tuples.size());
    }

    @Test
    void shouldTellApartTuplesThatDifferOnlyInClientPort() {
        assertDistinct(CLIENT, 40000, LOCAL, CLIENT, 40001, LOCAL);
    }

    @Test
    void shouldTellApartTuplesThatDifferOnlyInClientAddress() {
        assertDistinct(CLIENT, 40000, LOCAL, CLIENT + 1, 40000, LOCAL);
    }

    @Test
    void shouldTellApartTuplesThatDifferOnlyInLocalAddress() {
        assertDistinct(CLIENT, 40000, LOCAL, CLIENT, 40000, LOCAL + 1);
    }

    @Test
    void shouldTellApartTuplesWithClientAndLocalAddressesSwapped() {
        assertDistinct(CLIENT, 40000, LOCAL, LOCAL, 40000, CLIENT);
    }

    private static void assertDistinct(int c1, int p1, int l1, int c2, int p2, int l2) {
        Ipv4Tuples tuples = new Ipv4Tuples(16);
        assertTrue(tuples.add(c1, p1, l1));
        assertFalse(tuples.contains(c2, p2, l2), "the second tuple is not the first");
        assertTrue(tuples.add(c2, p2, l2), "the second tuple is new");
        assertEquals(2, tuples.size());
        assertTrue(tuples.remove(c1, p1, l1));
        assertTrue(tuples.contains(c2, p2, l2), "removing the first keeps the second");
        assertFalse(tuples.contains(c1, p1, l1));
    }

    @Test
    void shouldHandleExtremePortsAndAddresses() {
        int[] addresses = {0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF};
        int[] ports = {0, 1, 32767, 32768, 65534, 65535};
        Ipv4Tuples tuples = new Ipv4Tuples(4);
        int n = 0;
        for (int client : addresses) {
            for (int port : ports) {
                for (int local : addresses) {
                    assertTrue(tuples.add(client, port, local), tuple(client, port, local));
                    n++;
                }
            }
        }
        assertEquals(n, tuples.size());
        for (int client : addresses) {
            for (int port : ports) {
                for (int local : addresses) {
                    assertTrue(tuples.contains(client, port, local), tuple(client, port, local));
                    assertFalse(tuples.add(client, port, local), tuple(client, port, local));
                }
            }
        }
        // Remove every other one and check the rest are still found.
        boolean drop = true;
        for (int client : addresses) {
            for (int port : ports) {
                for (int local : addresses) {
                    if (drop) {
                        assertTrue(tuples.remove(client, port, local), tuple(client, port, local));
                        n--;
                    }
                    drop = !drop;
                }
            }
        }
        assertEquals(n, tuples.size());
        drop = true;
        for (int client : addresses) {
            for (int port : ports) {
                for (int local : addresses) {
                    assertEquals(!drop, tuples.contains(client, port, local), tuple(client, port, local));
                    drop = !drop;
                }
            }
        }
    }

    @Test
    void shouldTreatTheAllZeroTupleAsAnOrdinaryEntry() {
        Ipv4Tuples tuples = new Ipv4Tuples(16);
        assertFalse(tuples.contains(0, 0, 0), "an empty slot is not the all-zero tuple");
        assertTrue(tuples.add(0, 0, 0));
        assertTrue(tuples.contains(0, 0, 0));
        assertFalse(tuples.add(0, 0, 0));
        assertTrue(tuples.remove(0, 0, 0));
        assertFalse(tuples.contains(0, 0, 0));
        assertEquals(0, tuples.size());
    }

    @Test
    void shouldKeepEveryTupleWhileGrowingFromASmallCapacity() {
        Ipv4Tuples tuples = new Ipv4Tuples(1);
        for (int i = 0; i < 20_000; i++) {
            assertTrue(tuples.add(CLIENT + (i >>> 10), i & 1023, LOCAL), "add #" + i);
            assertEquals(i + 1, tuples.size());
        }
        for (int i = 0; i < 20_000; i++) {
            assertTrue(tuples.contains(CLIENT + (i >>> 10), i & 1023, LOCAL), "after growth #" + i);
        }
        assertFalse(tuples.contains(CLIENT + 20, 0, LOCAL));
    }

    @Test
    void shouldKeepTheValueStoredWithATupleAcrossGrowth() {
        Ipv4Tuples tuples = new Ipv4Tuples(1);
        assertEquals(-7L, tuples.valueOf(CLIENT, 1, LOCAL, -7L), "absent");
        assertTrue(tuples.put(CLIENT, 1, LOCAL, 42L));
        assertFalse(tuples.put(CLIENT, 1, LOCAL, 43L), "replacing reports the tuple as present");
        assertEquals(43L, tuples.valueOf(CLIENT, 1, LOCAL, -7L));
        for (int port = 2; port < 1000; port++) {
            tuples.put(CLIENT, port, LOCAL, port * 1_000_000_007L);
        }
        assertEquals(43L, tuples.valueOf(CLIENT, 1, LOCAL, -7L));
        for (int port = 2; port < 1000; port++) {
            assertEquals(port * 1_000_000_007L, tuples.valueOf(CLIENT, port, LOCAL, -7L));
        }
    }

    @Test
    void shouldKeepTheDescriptorStoredWithATupleAcrossGrowthAndRemoval() {
        LiveTuples tuples = new LiveTuples(1);
        assertEquals(-1, tuples.fdOf(0, 7, 1, 0, 9), "absent");
        tuples.put(0, 7, 1, 0, 9, 42L);
        assertEquals(-1, tuples.fdOf(0, 7, 1, 0, 9), "put without one");
        tuples.put(0, 7, 1, 0, 9, 42L, 5);
        assertEquals(5, tuples.fdOf(0, 7, 1, 0, 9), "replaced with the value");
        for (int port = 2; port < 1000; port++) {
            tuples.put(0, 7, port, 0, 9, port, 1000 + port);
        }
        for (int port = 2; port < 1000; port += 2) {
            tuples.remove(0, 7, port, 0, 9); // backward shifts move the survivors' descriptors with them
        }
        assertEquals(5, tuples.fdOf(0, 7, 1, 0, 9));
        for (int port = 2; port < 1000; port++) {
            assertEquals(port % 2 == 0 ? -1 : 1000 + port, tuples.fdOf(0, 7, port, 0, 9), "port " + port);
            assertEquals(port % 2 == 0 ? -7L : port, tuples.valueOf(0, 7, port, 0, 9, -7L), "port " + port);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Model test against java.util collections.

    private record Tuple(int client, int port, int local) {
    }

    /** Fixed seeds for reproducibility, plus one fresh seed per run (printed on failure). */
    static LongStream seeds() {
        return LongStream.of(1L, 0xC0FFEEL, -4_242_424_242L, new SplittableRandom().nextLong());
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void shouldBehaveLikeAHashMapUnderRandomAddRemoveAndLookups(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        // A small key space, so the table sees many collisions, re-adds and backward shifts after removals.
        List<Tuple> keys = new ArrayList<>();
        int[] clients = {0, CLIENT, CLIENT + 1, 0xFFFFFFFF, 0x80000000};
        int[] locals = {LOCAL, 0, 0xFFFFFFFF};
        for (int c : clients) {
            for (int l : locals) {
                for (int port : new int[] {0, 1, 2, 3, 443, 65535}) {
                    keys.add(new Tuple(c, port, l));
                }
                for (int i = 0; i < 20; i++) {
                    keys.add(new Tuple(c, 32768 + random.nextInt(64), l));
                }
            }
        }
        List<Tuple> keySpace = List.copyOf(keys.stream().distinct().toList());

        Ipv4Tuples tuples = new Ipv4Tuples(2);
        Map<Tuple, Long> model = new HashMap<>();
        String where = "seed " + seed;
        // The mix drifts between mostly-adding and mostly-removing, so the load sweeps from empty to full.
        for (int op = 0; op < OPERATIONS; op++) {
            boolean filling = (op / 5_000) % 2 == 0;
            int addPercent = filling ? 60 : 25;
            Tuple t = keySpace.get(random.nextInt(keySpace.size()));
            String at = where + ", op " + op + ", " + t;
            int dice = random.nextInt(100);
            if (dice < addPercent) {
                if (random.nextBoolean()) {
                    assertEquals(!model.containsKey(t), tuples.add(t.client(), t.port(), t.local()), "add: " + at);
                    model.put(t, 0L);
                } else {
                    long value = random.nextLong();
                    assertEquals(!model.containsKey(t), tuples.put(t.client(), t.port(), t.local(), value),
                        "put: " + at);
                    model.put(t, value);
                }
            } else if (dice < 90) {
                assertEquals(model.remove(t) != null, tuples.remove(t.client(), t.port(), t.local()), "remove: " + at);
            } else {
                assertEquals(model.containsKey(t), tuples.contains(t.client(), t.port(), t.local()), "contains: " + at);
                assertEquals(model.getOrDefault(t, Long.MIN_VALUE),
                    tuples.valueOf(t.client(), t.port(), t.local(), Long.MIN_VALUE), "valueOf: " + at);
            }
            assertEquals(model.size(), tuples.size(), "size: " + at);
            if (op % 997 == 0) {
                assertSameContents(keySpace, model, tuples, at);
            }
        }
        assertSameContents(keySpace, model, tuples, where + ", at the end");
    }

    private static void assertSameContents(List<Tuple> keySpace, Map<Tuple, Long> model, Ipv4Tuples tuples,
                                           String where) {
        for (Tuple k : keySpace) {
            assertEquals(model.containsKey(k), tuples.contains(k.client(), k.port(), k.local()),
                "full scan, " + where + ", " + k);
            assertEquals(model.getOrDefault(k, Long.MIN_VALUE),
                tuples.valueOf(k.client(), k.port(), k.local(), Long.MIN_VALUE), "full scan, " + where + ", " + k);
        }
    }

    private static String tuple(int client, int port, int local) {
        return String.format("(%08x, %d, %08x)", client, port, local);
    }
}
