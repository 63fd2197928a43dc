package io.synproxy.policy;

import io.synproxy.config.ConfigException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrefixSetTest {
    private static final long MAPPED = 0x0000_FFFF_0000_0000L;

    /** The front end's key of an address text: IPv6 as two halves, IPv4 mapped. */
    static long[] key(String text) {
        byte[] b = InetAddress.ofLiteral(text).getAddress();
        if (b.length == 4) {
            return new long[] {0, MAPPED | (toLong(b, 0, 4) & 0xFFFF_FFFFL)};
        }
        return new long[] {toLong(b, 0, 8), toLong(b, 8, 8)};
    }

    private static long toLong(byte[] b, int from, int n) {
        long v = 0;
        for (int i = from; i < from + n; i++) {
            v = v << 8 | (b[i] & 0xFF);
        }
        return v;
    }

    private static boolean contains(PrefixSet s, String address) {
        long[] k = key(address);
        return s.contains(k[0], k[1]);
    }

    @Test
    void shouldMatchAddressesInsideAnIpv4PrefixAndNoneOutside() throws ConfigException {
        PrefixSet s = PrefixSet.of(List.of("192.0.2.0/24"));
        assertTrue(contains(s, "192.0.2.0"));
        assertTrue(contains(s, "192.0.2.255"));
        assertFalse(contains(s, "192.0.1.255"));
        assertFalse(contains(s, "192.0.3.0"));
        assertFalse(contains(s, "::c000:201"), "the IPv4-compatible form is another address");
    }

    @Test
    void shouldMatchAddressesInsideAnIpv6Prefix() throws ConfigException {
        PrefixSet s = PrefixSet.of(List.of("2001:db8:1::/48"));
        assertTrue(contains(s, "2001:db8:1::1"));
        assertTrue(contains(s, "2001:db8:1:ffff:ffff:ffff:ffff:ffff"));
        assertFalse(contains(s, "2001:db8:2::"));
        assertFalse(contains(s, "192.0.2.1"));
    }

    @Test
    void shouldTreatABareAddressAsAHostPrefixAndIgnoreHostBits() throws ConfigException {
        PrefixSet s = PrefixSet.of(List.of("10.1.2.3", "10.9.9.9/8", "fd00::1"));
        assertTrue(contains(s, "10.1.2.3"));
        assertTrue(contains(s, "10.200.0.1"), "10.9.9.9/8 is 10.0.0.0/8");
        assertTrue(contains(s, "fd00::1"));
        assertFalse(contains(s, "fd00::2"));
    }

    @Test
    void shouldMatchEverythingWithZeroLengthPrefixes() throws ConfigException {
        PrefixSet v4 = PrefixSet.of(List.of("0.0.0.0/0"));
        assertTrue(contains(v4, "255.255.255.255"));
        assertFalse(contains(v4, "2001:db8::1"), "0.0.0.0/0 is every IPv4 address only");
        PrefixSet all = PrefixSet.of(List.of("::/0"));
        assertTrue(contains(all, "2001:db8::1"));
        assertTrue(contains(all, "1.2.3.4"));
        assertTrue(contains(all, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    }

    @Test
    void shouldMatchIpv4ThroughAMappedIpv6Prefix() throws ConfigException {
        PrefixSet s = PrefixSet.of(List.of("::ffff:198.51.100.0/120"));
        assertTrue(contains(s, "198.51.100.7"));
        assertFalse(contains(s, "198.51.101.7"));
    }

    @Test
    void shouldMergeOverlappingAndAdjacentPrefixes() throws ConfigException {
        PrefixSet s = PrefixSet.of(List.of("10.0.0.0/25", "10.0.0.128/25", "10.0.0.0/16", "10.0.5.0/24",
                "10.2.0.0/16"));
        assertEquals(5, s.prefixes());
        assertEquals(2, s.ranges());
        assertTrue(contains(s, "10.0.255.255"));
        assertFalse(contains(s, "10.1.0.0"));
        assertTrue(contains(s, "10.2.0.0"));
    }

    @Test
    void shouldHoldNothingWhenEmpty() {
        assertTrue(PrefixSet.EMPTY.isEmpty());
        assertFalse(contains(PrefixSet.EMPTY, "1.2.3.4"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "example.com", "1.2.3", "1.2.3.4/33", "1.2.3.4/-1", "2001:db8::/129", "1.2.3.4/x",
        "300.1.1.1", "1.2.3.4/24/1", "fe80::1%eth0"})
    void shouldRejectWhatIsNotACidr(String text) {
        assertThrows(ConfigException.class, () -> PrefixSet.parseCidr(text));
    }

    @Test
    void shouldNameTheLineOfABadLineAndSkipCommentsAndBlanks() throws ConfigException {
        List<long[]> ok = PrefixSet.parseLines("f", List.of("# header", "", "  10.0.0.0/8  # office", "2001:db8::/32"));
        assertEquals(2, ok.size());
        ConfigException e = assertThrows(ConfigException.class,
                () -> PrefixSet.parseLines("deny.txt", List.of("10.0.0.0/8", "# fine", "10.0.0.0/99")));
        assertTrue(e.getMessage().startsWith("deny.txt line 3: "), e.getMessage());
    }

    @Test
    void shouldAgreeWithALinearScanOnRandomPrefixes() {
        SplittableRandom random = new SplittableRandom(42);
        List<long[]> ranges = new ArrayList<>();
        PrefixSet.Builder b = new PrefixSet.Builder();
        for (int i = 0; i < 2_000; i++) {
            long[] r = randomRange(random);
            ranges.add(r);
            b.add(r);
        }
        PrefixSet s = b.build();
        for (int i = 0; i < 50_000; i++) {
            long[] probe = i % 2 == 0 ? randomAddress(random)
                    : ranges.get(random.nextInt(ranges.size())).clone();
            boolean expected = false;
            for (long[] r : ranges) {
                expected |= between(r, probe[0], probe[1]);
            }
            assertEquals(expected, s.contains(probe[0], probe[1]), "seed 42, probe " + i);
        }
    }

    @Test
    void shouldAgreeWithALinearScanWhenWidePrefixesSpanManyBucketsOfTheIndex() {
        SplittableRandom random = new SplittableRandom(99);
        List<long[]> ranges = new ArrayList<>();
        PrefixSet.Builder b = new PrefixSet.Builder();
        for (int i = 0; i < PrefixSet.INDEXED_RANGES + 50; i++) {
            long[] a = randomAddress(random);
            int bits = i % 10 == 0 ? random.nextInt(129) : a[0] == 0 ? 96 + random.nextInt(33) : random.nextInt(129);
            long maskHi = bits >= 64 ? -1L : bits == 0 ? 0 : -1L << (64 - bits);
            long maskLo = bits <= 64 ? 0 : bits == 128 ? -1L : -1L << (128 - bits);
            long[] r = {a[0] & maskHi, a[1] & maskLo, a[0] | ~maskHi, a[1] | ~maskLo};
            ranges.add(r);
            b.add(r);
        }
        PrefixSet s = b.build();
        for (int i = 0; i < 50_000; i++) {
            long[] probe = i % 3 == 0 ? new long[] {random.nextLong(), random.nextLong()} : randomAddress(random);
            boolean expected = false;
            for (long[] r : ranges) {
                expected |= between(r, probe[0], probe[1]);
            }
            assertEquals(expected, s.contains(probe[0], probe[1]), "seed 99, probe " + i);
        }
    }

    /**
     * Random prefix sets built to make the hard cases common: prefixes nested in one another (about two cut around
     * each base address), /0 of IPv4 and of everything, host prefixes (/32 and /128), siblings that merge into
     * adjacent ranges, edges of the buckets (::, the last address, ::/16 above the mapped block); probed at every
     * prefix's first and last address and one beyond each, and at random. Small sets (searched without the table)
     * and large ones (with it, IPv4 /16s holding their boundaries inline or not), against a linear scan of the
     * prefixes themselves, not of the merged ranges.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void shouldAgreeWithALinearScanOfThePrefixesOnNestedAdjacentAndExtremePrefixes(int seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (int signed : new int[] {1, 40, PrefixSet.INDEXED_RANGES - 1, PrefixSet.INDEXED_RANGES, 3_000, -3_000}) {
            // About two prefixes a base (nested: both hold it), and enough ranges left for the index in large sets;
            // the last set is IPv4 only, so that most /16s hold a few boundaries.
            boolean v4Only = signed < 0;
            int size = Math.abs(signed);
            long[][] bases = new long[1 + size / 2][];
            for (int i = 0; i < bases.length; i++) {
                bases[i] = v4Only ? new long[] {0, MAPPED | (random.nextInt() & 0xFFFF_FFFFL)} : edgeAddress(random);
            }
            List<long[]> prefixes = new ArrayList<>();
            PrefixSet.Builder b = new PrefixSet.Builder();
            // A /0 merges a family (0.0.0.0/0) or everything (::/0) into one range: one set in four gets one.
            int zero = v4Only ? 2 : random.nextInt(8);
            if (zero < 2) {
                long[] all = prefix(new long[] {0, MAPPED}, zero == 0 ? 0 : 96);
                prefixes.add(all);
                b.add(all);
            }
            for (int i = 0; i < size; i++) {
                long[] r = nestedPrefix(random, bases[random.nextInt(bases.length)]);
                prefixes.add(r);
                b.add(r);
                if (random.nextInt(8) == 0) {
                    long[] sibling = sibling(r);
                    if (sibling != null) {
                        prefixes.add(sibling);
                        b.add(sibling);
                    }
                }
            }
            PrefixSet s = b.build();
            if (size >= 3_000 && zero != 0) {
                assertTrue(s.ranges() >= PrefixSet.INDEXED_RANGES, s.ranges() + " ranges: the index is not used");
            }
            List<long[]> probes = new ArrayList<>();
            for (long[] r : prefixes) {
                probes.add(new long[] {r[0], r[1]});
                probes.add(new long[] {r[2], r[3]});
                probes.add(plus(r[0], r[1], -1));
                probes.add(plus(r[2], r[3], 1));
            }
            for (int i = 0; i < 2_000; i++) {
                probes.add(random.nextBoolean() ? edgeAddress(random) : new long[] {random.nextLong(), random.nextLong()});
            }
            for (long[] p : probes) {
                boolean expected = false;
                for (long[] r : prefixes) {
                    expected |= between(r, p[0], p[1]);
                }
                assertEquals(expected, s.contains(p[0], p[1]), () -> "seed " + seed + ", " + size + " prefixes, probe "
                        + Long.toHexString(p[0]) + ":" + Long.toHexString(p[1]));
            }
        }
    }

    /** Addresses near the edges of the buckets and families: mapped IPv4, IPv6, ::/96, the first and last ones. */
    private static long[] edgeAddress(SplittableRandom random) {
        return switch (random.nextInt(8)) {
            case 0, 1, 2 -> new long[] {0, MAPPED | (random.nextInt() & 0xFFFF_FFFFL)};
            case 3 -> new long[] {0, random.nextBoolean() ? random.nextLong() >>> 20 : random.nextLong()};
            case 4 -> new long[] {random.nextBoolean() ? 0 : -1L, random.nextBoolean() ? 0 : -1L};
            case 5 -> new long[] {random.nextLong() >>> 48, random.nextLong()};
            default -> new long[] {0x2000_0000_0000_0000L | (random.nextLong() >>> 4), random.nextLong()};
        };
    }

    /**
     * A prefix holding the base address: often short, a host, or an IPv4 one; none shorter than /12 (IPv4) or /16
     * (IPv6), nor reaching down to :: (the bucket of ::/16 above the mapped block keeps boundaries whose high half is
     * zero and others), so that a large set does not merge into a few ranges.
     */
    private static long[] nestedPrefix(SplittableRandom random, long[] base) {
        boolean v4 = base[0] == 0 && base[1] >>> 32 == 0xFFFFL;
        int bits = switch (random.nextInt(10)) {
            case 0 -> v4 ? 108 + random.nextInt(5) : 16 + random.nextInt(8);
            case 1 -> 128;
            case 2 -> v4 ? 108 + random.nextInt(21) : 16 + random.nextInt(113);
            default -> v4 ? 112 + random.nextInt(17) : 16 + random.nextInt(113);
        };
        int leadingZeros = base[0] == 0 ? 64 + Long.numberOfLeadingZeros(base[1]) : Long.numberOfLeadingZeros(base[0]);
        bits = Math.min(128, Math.max(bits, leadingZeros + 1));
        long[] a = bits == 128 || random.nextBoolean() ? base : plus(base[0], base[1], random.nextInt(1 << 12));
        return prefix(a, bits);
    }

    private static long[] prefix(long[] a, int bits) {
        long maskHi = bits >= 64 ? -1L : bits == 0 ? 0 : -1L << (64 - bits);
        long maskLo = bits <= 64 ? 0 : bits == 128 ? -1L : -1L << (128 - bits);
        return new long[] {a[0] & maskHi, a[1] & maskLo, a[0] | ~maskHi, a[1] | ~maskLo};
    }

    /** The prefix of the same length right after {@code r} (adjacent to it), or null past the last address. */
    private static long[] sibling(long[] r) {
        if (r[2] == -1L && r[3] == -1L) {
            return null;
        }
        long[] next = plus(r[2], r[3], 1);
        long sizeHi = r[2] - r[0];
        long sizeLo = r[3] - r[1];
        long endLo = next[1] + sizeLo;
        long endHi = next[0] + sizeHi + (Long.compareUnsigned(endLo, next[1]) < 0 ? 1 : 0);
        return new long[] {next[0], next[1], endHi, endLo};
    }

    /** The 128-bit address plus {@code d} (-1, or a small positive number), wrapping around. */
    private static long[] plus(long hi, long lo, long d) {
        long sum = lo + d;
        if (d >= 0) {
            return new long[] {Long.compareUnsigned(sum, lo) < 0 ? hi + 1 : hi, sum};
        }
        return new long[] {Long.compareUnsigned(sum, lo) > 0 ? hi - 1 : hi, sum};
    }

    @Test
    void shouldCountAdjacentPrefixesAsOneRangeAndKeepTheirNeighboursOut() throws ConfigException {
        PrefixSet s = PrefixSet.of(List.of("10.0.0.0/32", "10.0.0.1/32", "10.0.0.2/31", "::ffff:a00:4/126",
                "2001:db8::/128", "2001:db8::1/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"));
        assertEquals(3, s.ranges());
        assertFalse(contains(s, "9.255.255.255"));
        assertTrue(contains(s, "10.0.0.0"));
        assertTrue(contains(s, "10.0.0.7"));
        assertFalse(contains(s, "10.0.0.8"));
        assertFalse(contains(s, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
        assertTrue(contains(s, "2001:db8::1"));
        assertFalse(contains(s, "2001:db8::2"));
        assertTrue(contains(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        assertFalse(contains(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"));
    }

    @Test
    void shouldGiveBucketsThatGrowWithAddresses() {
        String[] ordered = {"::", "::1:0:0", "0.0.0.0", "0.1.0.0", "255.255.255.255", "::1:0:0:0", "1::", "2001:db8::",
            "ffff::"};
        int previous = -1;
        for (String a : ordered) {
            long[] k = key(a);
            int bucket = PrefixSet.bucket(k[0], k[1]);
            assertTrue(bucket >= previous, a + " in bucket " + bucket + " after " + previous);
            previous = bucket;
        }
    }

    @Test
    void shouldNotAllocateOnLookupWithAHundredThousandPrefixes() {
        var bean = ManagementFactory.getThreadMXBean();
        Assumptions.assumeTrue(bean instanceof com.sun.management.ThreadMXBean);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) bean;
        SplittableRandom random = new SplittableRandom(7);
        PrefixSet.Builder b = new PrefixSet.Builder();
        for (int i = 0; i < 100_000; i++) {
            b.add(randomRange(random));
        }
        PrefixSet s = b.build();
        long[] probes = new long[2048];
        for (int i = 0; i < probes.length; i += 2) {
            long[] a = randomAddress(random);
            probes[i] = a[0];
            probes[i + 1] = a[1];
        }
        long sink = lookups(s, probes, 200_000);
        long best = Long.MAX_VALUE;
        for (int round = 0; round < 5; round++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            sink += lookups(s, probes, 100_000);
            best = Math.min(best, threads.getCurrentThreadAllocatedBytes() - before);
        }
        assertEquals(0, best, "bytes allocated by 100,000 lookups (sink " + sink + ")");
    }

    private static long lookups(PrefixSet s, long[] probes, int n) {
        long hits = 0;
        for (int i = 0; i < n; i++) {
            int j = (i & 1023) * 2;
            hits += s.contains(probes[j], probes[j + 1]) ? 1 : 0;
        }
        return hits;
    }

    /** Half IPv4 (mapped), half IPv6 prefixes of random lengths. */
    static long[] randomRange(SplittableRandom random) {
        long[] a = randomAddress(random);
        boolean v4 = a[0] == 0;
        int bits = v4 ? 96 + 8 + random.nextInt(25) : 16 + random.nextInt(113);
        long maskHi = bits >= 64 ? -1L : -1L << (64 - bits);
        long maskLo = bits <= 64 ? 0 : bits == 128 ? -1L : -1L << (128 - bits);
        return new long[] {a[0] & maskHi, a[1] & maskLo, a[0] | ~maskHi, a[1] | ~maskLo};
    }

    static long[] randomAddress(SplittableRandom random) {
        if (random.nextBoolean()) {
            return new long[] {0, MAPPED | (random.nextInt() & 0xFFFF_FFFFL)};
        }
        return new long[] {0x2000_0000_0000_0000L | (random.nextLong() >>> 4), random.nextLong()};
    }

    private static boolean between(long[] r, long hi, long lo) {
        int lowCmp = Long.compareUnsigned(r[0], hi) != 0 ? Long.compareUnsigned(r[0], hi) : Long.compareUnsigned(r[1], lo);
        int highCmp = Long.compareUnsigned(hi, r[2]) != 0 ? Long.compareUnsigned(hi, r[2]) : Long.compareUnsigned(lo, r[3]);
        return lowCmp <= 0 && highCmp <= 0;
    }
    /** The prefixes a set is cut into, as "hi:lo/bits" in hex, for {@link #shouldCutTheSetIntoTheFewestPrefixes}. */
    private static List<String> prefixes(String... cidrs) throws ConfigException {
        List<String> out = new ArrayList<>();
        PrefixSet.of(List.of(cidrs)).forEachPrefix((hi, lo, bits) -> out.add(Long.toHexString(hi) + ":"
                + Long.toHexString(lo) + "/" + bits));
        return out;
    }

    @Test
    void shouldCutTheSetIntoTheFewestPrefixes() throws ConfigException {
        assertEquals(List.of("0:ffff0a000000/104"), prefixes("10.0.0.0/8", "10.1.0.0/16"), "a prefix inside another");
        assertEquals(List.of("0:ffff0a000000/103"), prefixes("10.0.0.0/8", "11.0.0.0/8"), "two that merge into one");
        assertEquals(List.of("0:ffffc0000201/128", "0:ffffc0000202/128"), prefixes("192.0.2.1", "192.0.2.2"),
                "a range that is no prefix");
        assertEquals(List.of("0:ffff00000000/96"), prefixes("0.0.0.0/0"), "every IPv4 address");
        assertEquals(List.of("0:0/0"), prefixes("::/0"), "everything, to the top");
        assertEquals(List.of("20010db8ffff0000:0/48", "fe80000000000000:0/10"), prefixes("fe80::/10",
                "2001:db8:ffff::/48"), "in address order");
        assertEquals(List.of(), prefixes(), "the empty set");
    }

    @Test
    void shouldCoverExactlyTheSetWithItsPrefixes() throws ConfigException {
        SplittableRandom random = new SplittableRandom(7);
        List<String> cidrs = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            cidrs.add("10." + random.nextInt(4) + "." + random.nextInt(256) + "." + random.nextInt(256) + "/"
                    + (20 + random.nextInt(13)));
        }
        PrefixSet set = PrefixSet.of(cidrs);
        List<long[]> ranges = new ArrayList<>();
        set.forEachPrefix((hi, lo, bits) -> ranges.add(new long[] {hi, lo, bits}));
        for (int i = 0; i < 20_000; i++) {
            long lo = MAPPED | 0x0A00_0000L | random.nextInt(1 << 18);
            boolean inPrefix = false;
            for (long[] p : ranges) {
                long mask = -1L << (128 - p[2]);
                inPrefix |= p[0] == 0 && (lo & mask) == p[1];
            }
            assertEquals(set.contains(0, lo), inPrefix, Long.toHexString(lo));
        }
    }
}
