package io.synproxy.frontend;

import io.synproxy.handshake.Handshake;
import io.synproxy.metrics.Counter;
import io.synproxy.packet.TcpSegment;
import io.synproxy.policy.SourceAccess;

/**
 * The deny and allow lists as the gate's {@link Admission}: a denied (or not allowed) source's SYN gets no SYN/ACK
 * ({@code syn_denied}), and its final ACK is dropped before its cookie is computed ({@code ack_denied}), so a
 * denied network costs one lookup a packet. The gate asks only about segments that belong to no live connection,
 * so a SIGHUP that denies a source leaves its live connections alone. Allocation-free ({@link SourceAccess}).
 */
public final class AccessAdmission implements Admission {
    private final SourceAccess access;

    public AccessAdmission(SourceAccess access) {
        this.access = access;
    }

    @Override
    public Counter refuse(TcpSegment segment) {
        int flags = segment.flags();
        // Other segments (RST, FIN) are never answered: they need no lookup.
        if (!Handshake.isSyn(flags) && !Handshake.isAck(flags) || access.permits(segment.srcHi(), segment.srcLo())) {
            return null;
        }
        return Handshake.isSyn(flags) ? Counter.SYN_DENIED : Counter.ACK_DENIED;
    }
}
