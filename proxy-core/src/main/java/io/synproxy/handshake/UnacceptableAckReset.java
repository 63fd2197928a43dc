package io.synproxy.handshake;

import io.synproxy.packet.Ipv4TcpParser;
import io.synproxy.packet.Ipv4TcpWriter;
import io.synproxy.packet.Ipv6TcpParser;
import io.synproxy.packet.Ipv6TcpWriter;
import io.synproxy.packet.TcpFlyweight;

import java.lang.foreign.MemorySegment;

/**
 * The answer to an ACK that completes no handshake (a stale or forged cookie): {@code <SEQ=SEG.ACK><CTL=RST>},
 * what RFC 9293 (3.10.7.2) has a listener send for an unacceptable ACK, and what the kernel would send. A real
 * client whose cookie expired then fails at once instead of waiting behind the zero window. The caller rate-limits
 * it, so an ACK flood cannot make the proxy a reflector. One per receive loop; allocation-free.
 */
public final class UnacceptableAckReset {
    private final Ipv4TcpWriter writer = new Ipv4TcpWriter();
    private final Ipv6TcpWriter writer6 = new Ipv6TcpWriter();

    /** Writes the RST answering the parsed IPv4 ACK; returns the packet length. */
    public int write(Ipv4TcpParser ack, MemorySegment buf, long off) {
        return writer.write(buf, off, ack.dst(), ack.src(), ack.dstPort(), ack.srcPort(), ack.ack(), 0,
                TcpFlyweight.RST, 0, -1, -1, false, false, 0, 0);
    }

    /** Writes the RST answering the parsed IPv6 ACK; returns the packet length. */
    public int write(Ipv6TcpParser ack, MemorySegment buf, long off) {
        return writer6.write(buf, off, ack.dstHi(), ack.dstLo(), ack.srcHi(), ack.srcLo(), ack.dstPort(),
                ack.srcPort(), ack.ack(), 0, TcpFlyweight.RST, 0, -1, -1, false, false, 0, 0);
    }
}
