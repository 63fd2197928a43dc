package io.synproxy.frontend;

import io.synproxy.handshake.Handshake;
import io.synproxy.metrics.Counter;
import io.synproxy.packet.TcpSegment;
import io.synproxy.policy.SourceAccess;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The deny and allow lists as the gate's {@link Admission}: a denied (or not allowed) source's SYN gets no SYN/ACK
 * ({@code syn_denied}), and its final ACK is dropped before its cookie is computed ({@code ack_denied}), so a
 * denied network costs one lookup a packet. The gate asks only about segments that belong to no live connection,
 * so a SIGHUP that denies a source leaves its live connections alone. Allocation-free ({@link SourceAccess}).
 */
public final class AccessAdmission implements Admission {
    private static final ValueLayout.OfInt BIG_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong BIG_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final int IPV4_SOURCE = 12;
    private static final int IPV6_SOURCE = 8;
    private static final int IPV6_SOURCE_END = IPV6_SOURCE + 16;

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

    /**
     * With a list in force, the source's table entry: with 100,000 prefixes the table is a megabyte, and a random
     * source's entry is a cache miss that costs a SYN more than the rest of its lookup. Read unparsed: a packet that
     * turns out to be anything else only costs a wasted read.
     */
    @Override
    public boolean prefetches() {
        return access.restricts();
    }

    @Override
    public long prefetch(MemorySegment mem, long ipOffset, int length) {
        if (length < IPV6_SOURCE_END) {
            return 0;
        }
        if (TcpSegment.isIpv6(mem, ipOffset, length)) {
            return access.touch(mem.get(BIG_LONG, ipOffset + IPV6_SOURCE), mem.get(BIG_LONG, ipOffset + IPV6_SOURCE + 8));
        }
        return access.touch(0, TcpSegment.mapped(mem.get(BIG_INT, ipOffset + IPV4_SOURCE)));
    }
}
