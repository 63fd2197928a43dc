package io.synproxy.frontend;

import io.synproxy.metrics.Counter;
import io.synproxy.packet.TcpSegment;

import java.lang.foreign.MemorySegment;

/**
 * Asked by the gate about every parsed segment of no live connection (a SYN always) before it is answered or its
 * cookie checked: the place for source policy (deny/allow lists, martian sources). A live connection's segments are
 * the kernel's and never asked about, so a policy change leaves live connections alone. Runs per packet on the loop
 * thread: it must not allocate nor make a syscall.
 */
@FunctionalInterface
public interface Admission {
    /** Admits everything. */
    Admission ALL = segment -> null;

    /**
     * @return null to let the segment through, or the counter under which it is dropped unanswered
     */
    Counter refuse(TcpSegment segment);

    /**
     * Called for a packet still waiting in the ring, a few frames before {@link #refuse} is asked about it: reads
     * what that lookup will read first, so its cache miss overlaps with other work. Must not branch on what it
     * reads nor keep anything; the packet is not parsed yet and may be anything.
     *
     * @param length the bytes captured from {@code ipOffset}
     * @return the value read, for the caller to fold into a sum (0 when there is nothing to read)
     */
    default long prefetch(MemorySegment mem, long ipOffset, int length) {
        return 0;
    }

    /** Whether {@link #prefetch} reads anything now; the ring is not read ahead when it does not. */
    default boolean prefetches() {
        return false;
    }
}
