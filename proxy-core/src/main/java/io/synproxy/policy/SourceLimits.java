package io.synproxy.policy;

import java.security.SecureRandom;

/**
 * Per-source limits on proven clients: how many live connections a source (an address, or its /24 or /64 with
 * {@link #SourceLimits(int, long, int, int, int)}'s prefix lengths) may hold, and how many new ones it may open a
 * second (a token bucket per source, as the generic cell rate algorithm: one long per source).
 *
 * <p><b>Memory is bounded whatever the number of sources.</b> The table is set-associative, like a CPU cache:
 * {@code sets} sets of {@link #WAYS} entries, each entry 28 bytes (key 16, live count 4, bucket 8), all allocated
 * up front; a source hashes (with a per-process random seed, so nobody can aim at one set) to one set and lives in
 * one of its ways. An entry is free again as soon as its source has no live connection and a full bucket. When
 * a new source finds all {@link #WAYS} ways of its set taken by sources that still hold connections or tokens,
 * the table is full for it: it is admitted without being tracked ({@link #TABLE_FULL}, counted by the caller),
 * so a table filled by a crowd of real clients never refuses an innocent one; {@code --max-connections} still
 * bounds the total.
 *
 * <p>Spoofed SYNs never reach this table: only a source whose final ACK carried a valid cookie does.
 *
 * <p>Called on the handoff path (a valid final ACK, already a few system calls) from every event loop: the loops
 * of one process share the table, since PACKET_FANOUT spreads one source's connections over all of them, so the
 * two methods are synchronized. The SYN and invalid-ACK paths never touch it.
 */
public final class SourceLimits {
    /** Admitted and tracked. */
    public static final int ADMITTED = 0;
    /** Refused: the source holds its maximum of live connections. */
    public static final int OVER_CONNECTIONS = 1;
    /** Refused: the source opened its maximum of connections in the last second. */
    public static final int OVER_RATE = 2;
    /** Admitted untracked: every way of the source's set is in use. */
    public static final int TABLE_FULL = 3;
    /** Entries per set. */
    public static final int WAYS = 8;
    /** Bytes an entry takes: two longs of key, an int of live count, a long of bucket state. */
    public static final int ENTRY_BYTES = 8 + 8 + 4 + 8;

    private final int maxPerSource;
    private final long intervalNanos;
    private final long toleranceNanos;
    private final long maskHi4;
    private final long maskLo4;
    private final long maskHi6;
    private final long maskLo6;
    private final int setMask;
    private final long seed;
    private final long[] keyHi;
    private final long[] keyLo;
    private final int[] live;
    private final long[] tat;

    /**
     * @param maxPerSource most live connections per source; 0 for no such limit
     * @param ratePerSecond most new connections per source a second (also the burst); 0 for no such limit
     * @param prefix4 the IPv4 prefix length that makes one source (32: the address)
     * @param prefix6 the IPv6 prefix length that makes one source (128: the address)
     * @param capacity how many sources to track at least; rounded up to a power of two sets of {@link #WAYS}
     */
    public SourceLimits(int maxPerSource, long ratePerSecond, int prefix4, int prefix6, int capacity) {
        if (maxPerSource < 0 || ratePerSecond < 0 || prefix4 < 1 || prefix4 > 32 || prefix6 < 1 || prefix6 > 128
                || capacity < 1) {
            throw new IllegalArgumentException("bad source limits");
        }
        this.maxPerSource = maxPerSource == 0 ? Integer.MAX_VALUE : maxPerSource;
        this.intervalNanos = ratePerSecond == 0 ? 0 : Math.max(1, 1_000_000_000L / ratePerSecond);
        this.toleranceNanos = ratePerSecond == 0 ? 0 : (ratePerSecond - 1) * intervalNanos;
        this.maskHi4 = -1L;
        this.maskLo4 = prefix4 == 32 ? -1L : -1L << (32 - prefix4);
        this.maskHi6 = prefix6 >= 64 ? -1L : -1L << (64 - prefix6);
        this.maskLo6 = prefix6 <= 64 ? 0 : prefix6 == 128 ? -1L : -1L << (128 - prefix6);
        int wanted = Math.min((capacity + WAYS - 1) / WAYS, 1 << 24);
        int sets = wanted <= 1 ? 1 : Integer.highestOneBit(wanted - 1) << 1;
        this.setMask = sets - 1;
        this.seed = new SecureRandom().nextLong() | 1;
        this.keyHi = new long[sets * WAYS];
        this.keyLo = new long[sets * WAYS];
        this.live = new int[sets * WAYS];
        this.tat = new long[sets * WAYS];
    }

    /** How many sources the table holds at most. */
    public int capacity() {
        return keyHi.length;
    }

    /** The table's memory in bytes, allocated once: {@link #capacity()} times {@link #ENTRY_BYTES}. */
    public long bytes() {
        return (long) keyHi.length * ENTRY_BYTES;
    }

    /**
     * A proven client wants a new connection: counts it in if both limits allow.
     *
     * @return {@link #ADMITTED}, {@link #OVER_CONNECTIONS}, {@link #OVER_RATE} or {@link #TABLE_FULL}; only
     *         after {@link #ADMITTED} must {@link #release} follow when the connection ends
     */
    public synchronized int acquire(long hi, long lo, long nowNanos) {
        long kHi = hi & (isMapped(hi, lo) ? maskHi4 : maskHi6);
        long kLo = lo & (isMapped(hi, lo) ? maskLo4 : maskLo6);
        int base = set(kHi, kLo) * WAYS;
        int free = -1;
        for (int i = base; i < base + WAYS; i++) {
            if (inUse(i, nowNanos)) {
                if (keyHi[i] == kHi && keyLo[i] == kLo) {
                    return admit(i, nowNanos);
                }
            } else if (free < 0) {
                free = i;
            }
        }
        if (free < 0) {
            return TABLE_FULL;
        }
        keyHi[free] = kHi;
        keyLo[free] = kLo;
        live[free] = 0;
        tat[free] = nowNanos;
        return admit(free, nowNanos);
    }

    /** A connection {@link #acquire} admitted has ended. */
    public synchronized void release(long hi, long lo) {
        long kHi = hi & (isMapped(hi, lo) ? maskHi4 : maskHi6);
        long kLo = lo & (isMapped(hi, lo) ? maskLo4 : maskLo6);
        int base = set(kHi, kLo) * WAYS;
        for (int i = base; i < base + WAYS; i++) {
            if (live[i] > 0 && keyHi[i] == kHi && keyLo[i] == kLo) {
                live[i]--;
                return;
            }
        }
    }

    /** Live connections the source of this address holds, as tracked (for tests and diagnostics). */
    public synchronized int liveOf(long hi, long lo, long nowNanos) {
        long kHi = hi & (isMapped(hi, lo) ? maskHi4 : maskHi6);
        long kLo = lo & (isMapped(hi, lo) ? maskLo4 : maskLo6);
        int base = set(kHi, kLo) * WAYS;
        for (int i = base; i < base + WAYS; i++) {
            if (inUse(i, nowNanos) && keyHi[i] == kHi && keyLo[i] == kLo) {
                return live[i];
            }
        }
        return 0;
    }

    private int admit(int i, long nowNanos) {
        if (live[i] >= maxPerSource) {
            return OVER_CONNECTIONS;
        }
        if (intervalNanos > 0) {
            long next = TokenBucket.take(tat[i], nowNanos, intervalNanos, toleranceNanos);
            if (next == Long.MIN_VALUE) {
                return OVER_RATE;
            }
            tat[i] = next;
        }
        live[i]++;
        return ADMITTED;
    }

    /** An entry is in use while its source holds a connection or its bucket is not yet full again. */
    private boolean inUse(int i, long nowNanos) {
        return live[i] > 0 || tat[i] - nowNanos > 0;
    }

    private int set(long hi, long lo) {
        long h = (hi * 0x9E3779B97F4A7C15L ^ lo) * seed;
        h ^= h >>> 29;
        h *= 0xBF58476D1CE4E5B9L;
        return (int) (h >>> 32) & setMask;
    }

    private static boolean isMapped(long hi, long lo) {
        return hi == 0 && (lo >>> 32) == 0xFFFFL;
    }
}
