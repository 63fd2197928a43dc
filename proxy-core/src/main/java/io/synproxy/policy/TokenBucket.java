package io.synproxy.policy;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A token bucket shared by every event loop, as the generic cell rate algorithm: one long, the theoretical
 * arrival time of the next token. {@code rate} tokens a second, up to {@code burst} at once.
 *
 * <p>Lock-free and allocation-free. An empty bucket (the common case under a flood) is seen with one plain read
 * and no write, so loops hammering it do not fight over its cache line; only a take that may succeed CASes.
 */
public final class TokenBucket {
    private final long intervalNanos;
    private final long toleranceNanos;
    private final AtomicLong tat;

    /**
     * @param ratePerSecond tokens per second; 0 means the bucket never gives one
     * @param burst most tokens taken at once after a quiet period (at least 1)
     */
    public TokenBucket(long ratePerSecond, long burst, long nowNanos) {
        if (ratePerSecond < 0 || burst < 1) {
            throw new IllegalArgumentException("rate must be >= 0 and burst >= 1");
        }
        this.intervalNanos = ratePerSecond == 0 ? Long.MAX_VALUE : Math.max(1, 1_000_000_000L / ratePerSecond);
        this.toleranceNanos = ratePerSecond == 0 ? -1 : Math.multiplyHigh(burst - 1, intervalNanos) != 0
                ? Long.MAX_VALUE : (burst - 1) * intervalNanos;
        this.tat = new AtomicLong(nowNanos);
    }

    /** Takes one token if there is one. */
    public boolean tryTake(long nowNanos) {
        if (toleranceNanos < 0) {
            return false;
        }
        while (true) {
            long t = tat.getOpaque();
            long base = t - nowNanos > 0 ? t : nowNanos;
            if (base - nowNanos > toleranceNanos) {
                return false;
            }
            if (tat.compareAndSet(t, base + intervalNanos)) {
                return true;
            }
        }
    }

    /**
     * The single-threaded form for a table of buckets: given the stored arrival time, the new one if a token
     * is taken now, or {@code Long.MIN_VALUE} if none is left.
     */
    static long take(long tat, long nowNanos, long intervalNanos, long toleranceNanos) {
        long base = tat - nowNanos > 0 ? tat : nowNanos;
        if (base - nowNanos > toleranceNanos) {
            return Long.MIN_VALUE;
        }
        return base + intervalNanos;
    }
}
