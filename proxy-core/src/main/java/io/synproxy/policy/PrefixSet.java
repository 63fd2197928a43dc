package io.synproxy.policy;

import io.synproxy.config.ConfigException;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An immutable set of IPv4 and IPv6 prefixes, looked up by a 128-bit address as the front end holds it (an IPv6
 * address as its two halves, an IPv4 address in its mapped form {@code ::ffff:a.b.c.d}, high half 0).
 *
 * <p>The prefixes are kept as sorted, merged, disjoint ranges {@code [start, end]}, each range's four longs side by
 * side in one array (32 bytes: a probe and the final end check touch one cache line); a lookup
 * is a binary search for the last range starting at or below the address. Above {@link #INDEXED_RANGES} ranges a
 * first-level index narrows the search to the ranges that start in the address's bucket (its /16 for IPv4, the
 * top 16 bits for IPv6), so that 100,000 prefixes cost one or two probes instead of 17 cache-missing ones. No
 * allocation, no lock.
 */
public final class PrefixSet {
    /** The set that holds nothing. */
    public static final PrefixSet EMPTY = new PrefixSet(new long[0], new long[0], new long[0], new long[0], 0);

    /** Below this many ranges the plain binary search over the arrays is as fast as the index. */
    static final int INDEXED_RANGES = 256;
    private static final long MAPPED_PREFIX = 0x0000_FFFF_0000_0000L;
    private static final int IPV4_IN_MAPPED = 96;
    /**
     * Buckets of the index, in address order: below the IPv4-mapped block, its 65,536 /16s, above it up to the
     * top 16 bits of IPv6, and those 65,536 values.
     */
    private static final int BUCKETS = 1 + 65_536 + 65_536;

    /** Range {@code i} is {@code ranges[4i..4i+3]}: start high, start low, end high, end low. */
    private final long[] ranges;
    private final int prefixes;
    /** {@code index[b]}: the first range whose start falls in bucket {@code b} or later; null for small sets. */
    private final int[] index;

    private PrefixSet(long[] startHi, long[] startLo, long[] endHi, long[] endLo, int prefixes) {
        this.ranges = new long[4 * startHi.length];
        for (int i = 0; i < startHi.length; i++) {
            ranges[4 * i] = startHi[i];
            ranges[4 * i + 1] = startLo[i];
            ranges[4 * i + 2] = endHi[i];
            ranges[4 * i + 3] = endLo[i];
        }
        this.prefixes = prefixes;
        this.index = startHi.length < INDEXED_RANGES ? null : index(startHi, startLo);
    }

    /** True when the address lies in one of the prefixes. */
    public boolean contains(long hi, long lo) {
        int low = 0;
        int high = (ranges.length >> 2) - 1;
        if (index != null) {
            // Ranges starting in earlier buckets start below the address, those in later ones above it: the last
            // range starting at or below it is in this bucket, or is the one just before it.
            int b = bucket(hi, lo);
            low = index[b];
            high = index[b + 1] - 1;
        }
        int found = low - 1;
        while (low <= high) {
            int mid = (low + high) >>> 1;
            if (compare(ranges[4 * mid], ranges[4 * mid + 1], hi, lo) <= 0) {
                found = mid;
                low = mid + 1;
            } else {
                high = mid - 1;
            }
        }
        return found >= 0 && compare(hi, lo, ranges[4 * found + 2], ranges[4 * found + 3]) <= 0;
    }

    /** True when the set holds no prefix. */
    public boolean isEmpty() {
        return ranges.length == 0;
    }

    /** How many prefixes were given (before overlapping ones were merged). */
    public int prefixes() {
        return prefixes;
    }

    /** How many disjoint ranges the prefixes merged into. */
    public int ranges() {
        return ranges.length >> 2;
    }

    /**
     * Parses one CIDR: {@code 192.0.2.0/24}, {@code 2001:db8::/32}, or a bare address (a /32 or /128). Host bits
     * below the prefix length are ignored, as ipset and nftables do. Literal addresses only: no name lookup.
     *
     * @return {@code {startHi, startLo, endHi, endLo}}
     */
    public static long[] parseCidr(String text) throws ConfigException {
        String t = text.trim();
        int slash = t.indexOf('/');
        String address = slash < 0 ? t : t.substring(0, slash);
        boolean v6Text = address.indexOf(':') >= 0;
        InetAddress parsed;
        try {
            // Literals only (no name lookup), and no IPv6 scope: a scope is not part of a source address.
            if (!v6Text && !address.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}") || address.indexOf('%') >= 0) {
                throw new IllegalArgumentException();
            }
            parsed = InetAddress.ofLiteral(address);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("'" + t + "' is not an IPv4 or IPv6 address or CIDR");
        }
        int maxBits = v6Text ? 128 : 32;
        int bits = maxBits;
        if (slash >= 0) {
            String len = t.substring(slash + 1);
            if (!len.matches("[0-9]{1,3}") || Integer.parseInt(len) > maxBits) {
                throw new ConfigException("'" + t + "' has a prefix length outside 0-" + maxBits);
            }
            bits = Integer.parseInt(len);
        }
        long hi;
        long lo;
        byte[] b = parsed.getAddress();
        if (parsed instanceof Inet4Address) {
            // A v4 literal, or ::ffff:a.b.c.d which Java returns as IPv4: both are keyed in their mapped form.
            hi = 0;
            lo = MAPPED_PREFIX | (toLong(b, 0, 4) & 0xFFFF_FFFFL);
            if (!v6Text) {
                bits += IPV4_IN_MAPPED;
            }
        } else {
            hi = toLong(b, 0, 8);
            lo = toLong(b, 8, 8);
        }
        long maskHi = bits >= 64 ? -1L : bits == 0 ? 0 : -1L << (64 - bits);
        long maskLo = bits <= 64 ? 0 : bits == 128 ? -1L : -1L << (128 - bits);
        return new long[] {hi & maskHi, lo & maskLo, hi | ~maskHi, lo | ~maskLo};
    }

    /**
     * Builds the set from CIDR texts.
     *
     * @throws ConfigException naming the first bad text
     */
    public static PrefixSet of(List<String> cidrs) throws ConfigException {
        Builder b = new Builder();
        for (String c : cidrs) {
            b.add(parseCidr(c));
        }
        return b.build();
    }

    /**
     * Parses the lines of a list file: one CIDR per line, {@code #} starts a comment, blank lines are skipped.
     *
     * @param name what to call the file in the message
     * @throws ConfigException with the file name and line number of the first bad line
     */
    public static List<long[]> parseLines(String name, List<String> lines) throws ConfigException {
        List<long[]> out = new ArrayList<>(lines.size());
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            int hash = line.indexOf('#');
            String text = (hash >= 0 ? line.substring(0, hash) : line).trim();
            if (text.isEmpty()) {
                continue;
            }
            try {
                out.add(parseCidr(text));
            } catch (ConfigException e) {
                throw new ConfigException(name + " line " + (i + 1) + ": " + e.getMessage());
            }
        }
        return out;
    }

    /** The bucket of an address; buckets grow with addresses, so each holds a contiguous run of ranges. */
    static int bucket(long hi, long lo) {
        if (hi != 0) {
            return 1 + 65_536 + (int) (hi >>> 48);
        }
        long top = lo >>> 32;
        if (top < 0xFFFFL) {
            return 0;
        }
        return top == 0xFFFFL ? 1 + (int) ((lo >>> 16) & 0xFFFF) : 1 + 65_536;
    }

    private static int[] index(long[] startHi, long[] startLo) {
        int[] index = new int[BUCKETS + 1];
        for (int i = 0; i < startHi.length; i++) {
            index[bucket(startHi[i], startLo[i]) + 1]++;
        }
        for (int b = 1; b <= BUCKETS; b++) {
            index[b] += index[b - 1];
        }
        return index;
    }

    private static long toLong(byte[] b, int from, int n) {
        long v = 0;
        for (int i = from; i < from + n; i++) {
            v = v << 8 | (b[i] & 0xFF);
        }
        return v;
    }

    /** Unsigned 128-bit comparison. */
    private static int compare(long aHi, long aLo, long bHi, long bLo) {
        int c = Long.compareUnsigned(aHi, bHi);
        return c != 0 ? c : Long.compareUnsigned(aLo, bLo);
    }

    /** Collects ranges (from {@link #parseCidr}) and merges them into a set. */
    public static final class Builder {
        private final List<long[]> ranges = new ArrayList<>();

        public Builder add(long[] range) {
            ranges.add(range);
            return this;
        }

        public Builder addAll(List<long[]> more) {
            ranges.addAll(more);
            return this;
        }

        public PrefixSet build() {
            long[][] sorted = ranges.toArray(new long[0][]);
            Arrays.sort(sorted, (a, b) -> compare(a[0], a[1], b[0], b[1]));
            long[] sHi = new long[sorted.length];
            long[] sLo = new long[sorted.length];
            long[] eHi = new long[sorted.length];
            long[] eLo = new long[sorted.length];
            int n = 0;
            for (long[] r : sorted) {
                if (n > 0 && (compare(r[0], r[1], eHi[n - 1], eLo[n - 1]) <= 0 || adjacent(eHi[n - 1], eLo[n - 1], r))) {
                    if (compare(r[2], r[3], eHi[n - 1], eLo[n - 1]) > 0) {
                        eHi[n - 1] = r[2];
                        eLo[n - 1] = r[3];
                    }
                    continue;
                }
                sHi[n] = r[0];
                sLo[n] = r[1];
                eHi[n] = r[2];
                eLo[n] = r[3];
                n++;
            }
            return new PrefixSet(Arrays.copyOf(sHi, n), Arrays.copyOf(sLo, n), Arrays.copyOf(eHi, n),
                    Arrays.copyOf(eLo, n), sorted.length);
        }

        /** True when {@code r} starts right after the end {@code (hi, lo)}. */
        private static boolean adjacent(long hi, long lo, long[] r) {
            long nextLo = lo + 1;
            long nextHi = nextLo == 0 ? hi + 1 : hi;
            return (hi != -1L || lo != -1L) && nextHi == r[0] && nextLo == r[1];
        }
    }
}
