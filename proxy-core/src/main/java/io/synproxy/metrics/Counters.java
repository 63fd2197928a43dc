package io.synproxy.metrics;

import io.synproxy.packet.Reject;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One event loop's counters: a single writer (the loop's thread) increments with opaque stores,
 * any thread may read. No atomics, no sharing of cache lines between loops.
 */
public final class Counters {
    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);
    private static final int COUNTERS = Counter.values().length;
    private static final int REJECTS = Reject.values().length;
    // Padding on both sides keeps two loops' arrays off each other's cache lines.
    private static final int PAD = 8;

    private final long[] values = new long[PAD + COUNTERS + REJECTS + PAD];

    public void increment(Counter c) {
        add(c, 1);
    }

    public void add(Counter c, long delta) {
        int i = PAD + c.ordinal();
        SLOT.setOpaque(values, i, (long) SLOT.getOpaque(values, i) + delta);
    }

    public void reject(Reject reason) {
        int i = PAD + COUNTERS + reason.ordinal();
        SLOT.setOpaque(values, i, (long) SLOT.getOpaque(values, i) + 1);
        add(Counter.PACKETS_REJECTED, 1);
    }

    public long get(Counter c) {
        return (long) SLOT.getOpaque(values, PAD + c.ordinal());
    }

    public long get(Reject reason) {
        return (long) SLOT.getOpaque(values, PAD + COUNTERS + reason.ordinal());
    }
}
