package io.synproxy.frontend;

import io.synproxy.metrics.Counter;
import io.synproxy.packet.TcpSegment;

/**
 * Asked by the gate about every parsed segment before it is classified or answered: the place for source policy
 * (deny/allow lists, per-source limits, martian sources). Runs per packet on the loop thread: it must not allocate
 * nor make a syscall.
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
