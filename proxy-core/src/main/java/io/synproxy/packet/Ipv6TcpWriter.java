package io.synproxy.packet;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_INT;
import static io.synproxy.packet.Bits.NET_LONG;
import static io.synproxy.packet.Bits.NET_SHORT;

import java.lang.foreign.MemorySegment;

/**
 * Writes option-carrying TCP control segments (SYN/ACKs, window updates) over IPv6 into a preallocated buffer. IPv6
 * has no header checksum; the TCP checksum over the IPv6 pseudo-header (RFC 8200, section 8.1) is mandatory and is
 * always filled in. One instance per sender; nothing is allocated per packet.
 *
 * <p>The IPv6 header is 40 bytes, no extension headers: traffic class 0, flow label 0, next header 6, hop limit 64.
 * TCP options use the same layout as {@link Ipv4TcpWriter}.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version| Traffic Class |           Flow Label                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Payload Length        |  Next Header  |   Hop Limit   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  Source Address (128 bits, offset 8)          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |               Destination Address (128 bits, offset 24)       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * Addresses are passed as two 64-bit halves in network order: {@code fd00:200::1} is
 * {@code hi = 0xfd00_0200_0000_0000L, lo = 1}.
 */
public final class Ipv6TcpWriter {
    public static final int HEADER_LENGTH = 40;
    /** Longest packet written: 40 bytes of IPv6, 20 of TCP, 20 of options. */
    public static final int MAX_LENGTH = 80;
    public static final int DEFAULT_HOP_LIMIT = 64;
    public static final int VERSION_6 = 6;
    public static final int PAYLOAD_LENGTH_OFFSET = 4;
    public static final int NEXT_HEADER_OFFSET = 6;
    public static final int HOP_LIMIT_OFFSET = 7;
    public static final int SRC_OFFSET = 8;
    public static final int DST_OFFSET = 24;

    private final TcpFlyweight tcp = new TcpFlyweight();

    /**
     * Writes an IPv6 + TCP packet without payload at {@code off}; {@code buf} must hold {@link #MAX_LENGTH} bytes
     * there.
     *
     * @param mss MSS option value, or -1 for none
     * @param wscale window scale shift, or -1 for none
     * @return total length written (40 + IPv6 payload length)
     */
    public int write(MemorySegment buf, long off, long srcHi, long srcLo, long dstHi, long dstLo, int srcPort,
                     int dstPort, int seq, int ack, int flags, int window, int mss, int wscale,
                     boolean sackPermitted, boolean timestamps, int tsVal, int tsEcr) {
        final long tcpOff = off + HEADER_LENGTH;
        final long o = Ipv4TcpWriter.writeOptions(buf, tcpOff + TcpFlyweight.OPTIONS_OFFSET, mss, wscale,
            sackPermitted, timestamps, tsVal, tsEcr);
        final int tcpLength = (int) (o - tcpOff);
        buf.set(NET_INT, off, VERSION_6 << 28);
        buf.set(NET_SHORT, off + PAYLOAD_LENGTH_OFFSET, (short) tcpLength);
        buf.set(BYTE, off + NEXT_HEADER_OFFSET, (byte) Ipv4Flyweight.PROTOCOL_TCP);
        buf.set(BYTE, off + HOP_LIMIT_OFFSET, (byte) DEFAULT_HOP_LIMIT);
        buf.set(NET_LONG, off + SRC_OFFSET, srcHi);
        buf.set(NET_LONG, off + SRC_OFFSET + 8, srcLo);
        buf.set(NET_LONG, off + DST_OFFSET, dstHi);
        buf.set(NET_LONG, off + DST_OFFSET + 8, dstLo);
        Ipv4TcpWriter.writeTcpHeader(tcp, buf, tcpOff, tcpLength, srcPort, dstPort, seq, ack, flags, window);
        tcp.checksum(tcpChecksumIpv6(buf, off, tcpOff, tcpLength));
        return HEADER_LENGTH + tcpLength;
    }

    /**
     * TCP checksum over the IPv6 pseudo-header (source, destination, upper-layer length, next header 6) and the
     * {@code tcpLength} bytes of segment at {@code tcpOff} (checksum field included as it is in memory).
     *
     * @return the 16-bit checksum to store when the checksum field is 0; 0 when a filled-in checksum verifies
     */
    public static int tcpChecksumIpv6(MemorySegment seg, long ipOff, long tcpOff, int tcpLength) {
        final int addresses = Bits.onesComplementSum(seg, ipOff + SRC_OFFSET, 32, 0);
        final int pseudo = addresses + (tcpLength >>> 16) + (tcpLength & 0xFFFF) + Ipv4Flyweight.PROTOCOL_TCP;
        return Bits.fold(Bits.onesComplementSum(seg, tcpOff, tcpLength, pseudo)) & 0xFFFF;
    }
}
