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
}
