package io.synproxy.packet;

import java.lang.foreign.MemorySegment;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_INT;
import static io.synproxy.packet.Bits.NET_SHORT;

/**
 * The TCP checksum over either family's pseudo-header, in one place for the parser (which verifies) and the writer
 * (which fills in). A result of 0 means a filled-in checksum verifies; with the checksum field 0 it is the value to
 * store.
 */
public final class TcpChecksum {
    private TcpChecksum() {
    }

    /**
     * Over the IPv4 pseudo-header and the TCP segment of the already-validated IPv4 packet at {@code ipOff}: IHL and
     * total length must lie inside {@code seg}.
     */
    public static int ipv4(MemorySegment seg, long ipOff) {
        final int ipHeaderLength = (seg.get(BYTE, ipOff + Ipv4Flyweight.VERSION_IHL_OFFSET) & 0x0F) << 2;
        final int tcpLength = (seg.get(NET_SHORT, ipOff + Ipv4Flyweight.TOTAL_LENGTH_OFFSET) & 0xFFFF)
            - ipHeaderLength;
        final long src = seg.get(NET_INT, ipOff + Ipv4Flyweight.SRC_OFFSET) & 0xFFFF_FFFFL;
        final long dst = seg.get(NET_INT, ipOff + Ipv4Flyweight.DST_OFFSET) & 0xFFFF_FFFFL;
        // Pseudo-header: src, dst, zero, protocol, TCP length. Sum of 16-bit halves, at most 19 bits.
        final int pseudo = (int) ((src >>> 16) + (src & 0xFFFF) + (dst >>> 16) + (dst & 0xFFFF)
            + Ipv4Flyweight.PROTOCOL_TCP + tcpLength);
        return Bits.fold(Bits.onesComplementSum(seg, ipOff + ipHeaderLength, tcpLength, pseudo)) & 0xFFFF;
    }

    /**
     * Over the IPv6 pseudo-header (source, destination, upper-layer length, next header 6) of the packet at
     * {@code ipOff} and the {@code tcpLength} bytes of segment at {@code tcpOff} (after any extension headers).
     */
    public static int ipv6(MemorySegment seg, long ipOff, long tcpOff, int tcpLength) {
        final int addresses = Bits.onesComplementSum(seg, ipOff + Ipv6Flyweight.SRC_OFFSET, 32, 0);
        final int pseudo = addresses + (tcpLength >>> 16) + (tcpLength & 0xFFFF) + Ipv4Flyweight.PROTOCOL_TCP;
        return Bits.fold(Bits.onesComplementSum(seg, tcpOff, tcpLength, pseudo)) & 0xFFFF;
    }
}
