package io.synproxy.policy;

import io.synproxy.config.ConfigException;

import java.math.BigInteger;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An immutable set of IPv4 and IPv6 prefixes, looked up by a 128-bit address as the front end holds it (an IPv6
 * address as its two halves, an IPv4 address in its mapped form {@code ::ffff:a.b.c.d}, high half 0).
 *
 * <p>The prefixes are merged into sorted disjoint ranges, and the set is kept as the sorted addresses where
 * membership changes (each range's start, and the address after its end): an address is in the set when an odd
 * number of those boundaries lie at or below it. Above {@link #INDEXED_RANGES} ranges a table with one long per
 * bucket (the address's /16 for IPv4, the top 16 bits for IPv6) holds whether the bucket starts inside the set, and
 * either the bucket's boundaries themselves when it is an IPv4 /16 with at most three (16 bits each: one memory access
 * answers the lookup), or where its run of boundaries starts and how long it is. Within a run the search goes over a
 * 32-bit key per boundary (the 16 bits below the /16 for IPv4, bits 16 to 47 for IPv6), 16 keys a cache line, and
 * falls back to the full 128-bit boundaries only when the address's key equals a boundary's. With the benchmark's
 * 100,000 random prefixes, 87% of IPv4 lookups read one table entry and nothing else; the others, and IPv6 ones
 * (a run of 16 keys on average there), read the entry and one or two lines of keys. Memory: the table is 131,073 longs (1 MiB, built above 256 ranges
 * only), and each boundary costs 20 bytes (a 4-byte key and two longs), so 100,000 disjoint prefixes take at most
 * 1 MiB + 200,000 x 20 B = 5 MiB; a lookup reads the table, the 800 KB of keys when its bucket spills, and the
 * full boundaries on a tie. No allocation, no lock.
 */
public final class PrefixSet {
    /** The set that holds nothing. */
    public static final PrefixSet EMPTY = new PrefixSet(new long[0], new long[0], new long[0], new long[0], 0);

    /** Below this many ranges the plain binary search over the boundaries is as fast as the table. */
    static final int INDEXED_RANGES = 256;
    private static final long MAPPED_PREFIX = 0x0000_FFFF_0000_0000L;
    private static final int IPV4_IN_MAPPED = 96;
    /**
     * Buckets of the table, in address order: below the IPv4-mapped block, its 65,536 /16s, then the 65,536 values
     * of the top 16 bits of IPv6 (the first of which also holds the addresses of {@code ::/16} above the mapped
     * block).
     */
    private static final int BUCKETS = 1 + 65_536 + 65_536;
    private static final int V6_BUCKETS = 1 + 65_536;
    private static final BigInteger TOP = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);

    /** Boundary {@code i} is {@code bounds[2i]} (high half), {@code bounds[2i + 1]} (low half); sorted, distinct. */
    private final long[] bounds;
    /** Boundary {@code i}'s key within its bucket ({@link #key}), sign bit flipped so that int order is unsigned. */
    private final int[] keys;
    private final int prefixes;
    private final int ranges;
    /**
     * One entry a bucket, null for small sets. Bit 0 clear: bit 1 says the bucket starts inside the set, bits 2-3
     * count the boundaries in it (at most three, IPv4 buckets only) and bits 16-31, 32-47 and 48-63 hold them in
     * ascending order (the address's low 16 bits). Bit 0 set: bits 1-31 count the boundaries, bits 32-63 give the
     * first one's position.
     */
    private final long[] table;

    private PrefixSet(long[] startHi, long[] startLo, long[] endHi, long[] endLo, int prefixes) {
        int n = startHi.length;
        long[] b = new long[4 * n];
        int count = 0;
        for (int i = 0; i < n; i++) {
            b[2 * count] = startHi[i];
            b[2 * count + 1] = startLo[i];
            count++;
            if (endHi[i] != -1L || endLo[i] != -1L) {
                long afterLo = endLo[i] + 1;
                b[2 * count] = afterLo == 0 ? endHi[i] + 1 : endHi[i];
                b[2 * count + 1] = afterLo;
                count++;
            }
        }
        this.bounds = Arrays.copyOf(b, 2 * count);
        this.keys = new int[count];
        for (int i = 0; i < count; i++) {
            keys[i] = key(bounds[2 * i], bounds[2 * i + 1]);
        }
        this.prefixes = prefixes;
        this.ranges = n;
        this.table = n < INDEXED_RANGES ? null : table(bounds, count);
    }

    /** True when the address lies in one of the prefixes. */
    public boolean contains(long hi, long lo) {
        long[] t = table;
        if (t == null) {
            return (above(0, keys.length, hi, lo) & 1) != 0;
        }
        long e = t[bucket(hi, lo)];
        if ((e & 1) == 0) {
            // Counts the bucket's boundaries at or below the address without a branch: a random source makes any
            // branch here a coin toss, and a mispredicted one waits for the entry's cache miss before it resolves.
            int x = (int) lo & 0xFFFF;
            int n = (int) (e >>> 2) & 3;
            int below = ((((int) (e >>> 16) & 0xFFFF) - x - 1) >>> 31 & -n >>> 31)
                    + ((((int) (e >>> 32) & 0xFFFF) - x - 1) >>> 31 & (1 - n) >>> 31)
                    + ((((int) (e >>> 48) & 0xFFFF) - x - 1) >>> 31 & (2 - n) >>> 31);
            return (((int) (e >>> 1) ^ below) & 1) != 0;
        }
        int low = (int) (e >>> 32);
        int to = low + ((int) e >>> 1);
        int high = to;
        int key = key(hi, lo);
        // The first boundary whose key is at least the address's: those before it are below the address.
        while (low < high) {
            int mid = (low + high) >>> 1;
            if (keys[mid] < key) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        // Equal keys do not order the boundary against the address: the full boundaries do.
        int found = low < to && keys[low] == key ? above(low, to, hi, lo) : low;
        return (found & 1) != 0;
    }

    /**
     * Reads the table entry a later {@link #contains} of this address reads first, and returns it (fold it into a sum
     * that stays live, so the read is not optimised away). A batch of these, with no branch on what they read, has
     * the cache misses of several lookups in flight at once; see {@code FrontendHandle#drain}.
     */
    public long touch(long hi, long lo) {
        long[] t = table;
        return t == null ? 0 : t[bucket(hi, lo)];
    }

    /** The first boundary in {@code [from, to)} above the address, or {@code to}. */
    private int above(int from, int to, long hi, long lo) {
        int low = from;
        int high = to;
        while (low < high) {
            int mid = (low + high) >>> 1;
            if (compare(bounds[2 * mid], bounds[2 * mid + 1], hi, lo) <= 0) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        return low;
    }

    /** True when the set holds no prefix. */
    public boolean isEmpty() {
        return ranges == 0;
    }

    /** How many prefixes were given (before overlapping ones were merged). */
    public int prefixes() {
        return prefixes;
    }

    /** How many disjoint ranges the prefixes merged into. */
    public int ranges() {
        return ranges;
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

    /** The bucket of an address; buckets grow with addresses, so each holds a contiguous run of boundaries. */
    static int bucket(long hi, long lo) {
        long top = lo >>> 32;
        if (hi == 0 && top == 0xFFFFL) {
            return 1 + (int) ((lo >>> 16) & 0xFFFF);
        }
        if (hi == 0 && top < 0xFFFFL) {
            return 0;
        }
        return V6_BUCKETS + (int) (hi >>> 48);
    }

    /**
     * The address's 32 bits just below its bucket's (sign-flipped): within one bucket, a larger key is a larger
     * address, and a smaller key a smaller one.
     */
    static int key(long hi, long lo) {
        long top = lo >>> 32;
        int k;
        if (hi == 0 && top == 0xFFFFL) {
            k = (int) lo << 16;
        } else if (hi == 0 && top < 0xFFFFL) {
            k = (int) (lo >>> 16);
        } else {
            k = (int) (hi >>> 16);
        }
        return k ^ Integer.MIN_VALUE;
    }

    private static long[] table(long[] bounds, int count) {
        long[] table = new long[BUCKETS];
        int i = 0;
        for (int b = 0; b < BUCKETS; b++) {
            int from = i;
            while (i < count && bucket(bounds[2 * i], bounds[2 * i + 1]) == b) {
                i++;
            }
            int n = i - from;
            if (n == 0 || n <= 3 && b >= 1 && b < V6_BUCKETS) {
                long e = (long) (from & 1) << 1 | (long) n << 2;
                for (int k = 0; k < n; k++) {
                    e |= (bounds[2 * (from + k) + 1] & 0xFFFF) << (16 + 16 * k);
                }
                table[b] = e;
            } else {
                table[b] = 1 | (long) n << 1 | (long) from << 32;
            }
        }
        return table;
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

    /** What {@link #forEachPrefix} hands over: a prefix of the 128-bit address space (IPv4 as ::ffff:a.b.c.d). */
    @FunctionalInterface
    public interface PrefixVisitor {
        /** {@code bits} leading bits of {@code (hi, lo)}, whose other bits are zero. */
        void prefix(long hi, long lo, int bits);
    }

    /**
     * The set as the fewest prefixes that cover it exactly, in address order (for a longest-prefix-match table, such
     * as the BPF program's): its merged ranges, each cut into aligned blocks. A few thousand at most per range.
     */
    public void forEachPrefix(PrefixVisitor visitor) {
        int count = bounds.length / 2;
        for (int i = 0; i < count; i += 2) {
            BigInteger start = u128(bounds[2 * i], bounds[2 * i + 1]);
            // Boundaries alternate: a range's start, then the address after its end (none when it ends at the top).
            BigInteger end = i + 1 < count ? u128(bounds[2 * i + 2], bounds[2 * i + 3]).subtract(BigInteger.ONE)
                    : TOP;
            while (start.compareTo(end) <= 0) {
                int size = start.signum() == 0 ? 128 : start.getLowestSetBit();
                while (size > 0 && start.add(BigInteger.ONE.shiftLeft(size)).subtract(BigInteger.ONE)
                        .compareTo(end) > 0) {
                    size--;
                }
                visitor.prefix(start.shiftRight(64).longValue(), start.longValue(), 128 - size);
                start = start.add(BigInteger.ONE.shiftLeft(size));
            }
        }
    }

    private static BigInteger u128(long hi, long lo) {
        return new BigInteger(1, ByteBuffer.allocate(16).putLong(hi).putLong(lo).array());
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
