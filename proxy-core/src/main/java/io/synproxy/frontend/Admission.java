package io.synproxy.frontend;

import io.synproxy.metrics.Counter;
import io.synproxy.packet.TcpSegment;

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
}
