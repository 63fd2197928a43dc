package io.synproxy.packet;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_INT;

import java.lang.foreign.MemorySegment;

/**
 * Writes option-carrying TCP control segments (SYN/ACKs, window updates) over IPv4 into a preallocated buffer, with
 * both checksums. One instance per sender; nothing is allocated per packet.
 *
 * <p>The IPv4 header is 20 bytes: TOS 0, id 0, DF, TTL 64, protocol 6. TCP options follow Linux's
 * {@code tcp_options_write} layout for a SYN/ACK, each group on a 4-byte boundary:
 *
 * <pre>
 * +--------+--------+--------+--------+
 * |  kind=2| len=4  |       MSS       |   if mss &gt;= 0
 * +--------+--------+--------+--------+
 * |  kind=4| len=2  |  kind=8| len=10 |   timestamps with SACK_PERM
 * |  NOP   |  NOP   |  kind=8| len=10 |   timestamps without SACK_PERM
 * +--------+--------+--------+--------+
 * |               TSval               |
 * +--------+--------+--------+--------+
 * |               TSecr               |
 * +--------+--------+--------+--------+
 * |  NOP   |  NOP   |  kind=4| len=2  |   SACK_PERM without timestamps
 * +--------+--------+--------+--------+
 * |  NOP   |  kind=3| len=3  |  shift |   if wscale &gt;= 0
 * +--------+--------+--------+--------+
 * </pre>
 */
public final class Ipv4TcpWriter {
    /** Longest packet written: 20 bytes of IPv4, 20 of TCP, 20 of options. */
    public static final int MAX_LENGTH = 60;
    public static final int DEFAULT_TTL = 64;

    private static final int NOP = TcpOptions.KIND_NOP;
    private static final int MSS_HEAD = (TcpOptions.KIND_MSS << 24) | (TcpOptions.LENGTH_MSS << 16);
    private static final int SACK_PERM_TS_HEAD = (TcpOptions.KIND_SACK_PERMITTED << 24)
        | (TcpOptions.LENGTH_SACK_PERMITTED << 16) | (TcpOptions.KIND_TIMESTAMPS << 8) | TcpOptions.LENGTH_TIMESTAMPS;
    private static final int NOP_NOP_TS_HEAD = (NOP << 24) | (NOP << 16)
        | (TcpOptions.KIND_TIMESTAMPS << 8) | TcpOptions.LENGTH_TIMESTAMPS;
    private static final int NOP_NOP_SACK_PERM = (NOP << 24) | (NOP << 16)
        | (TcpOptions.KIND_SACK_PERMITTED << 8) | TcpOptions.LENGTH_SACK_PERMITTED;
    private static final int NOP_WSCALE_HEAD = (NOP << 24) | (TcpOptions.KIND_WSCALE << 16)
        | (TcpOptions.LENGTH_WSCALE << 8);

    private final Ipv4Flyweight ip = new Ipv4Flyweight();
    private final TcpFlyweight tcp = new TcpFlyweight();

    /**
     * Writes an IPv4 + TCP packet without payload at {@code off}; {@code buf} must hold {@link #MAX_LENGTH} bytes
     * there.
     *
     * @param mss MSS option value, or -1 for none
     * @param wscale window scale shift, or -1 for none (written as given; the caller clamps)
     * @return total length written (IPv4 total length)
     */
    public int write(MemorySegment buf, long off, int src, int dst, int srcPort, int dstPort, int seq, int ack,
                     int flags, int window, int mss, int wscale, boolean sackPermitted, boolean timestamps,
                     int tsVal, int tsEcr) {
        final long tcpOff = off + Ipv4Flyweight.HEADER_LENGTH;
        final long o = writeOptions(buf, tcpOff + TcpFlyweight.OPTIONS_OFFSET, mss, wscale, sackPermitted, timestamps,
            tsVal, tsEcr);
        final int tcpLength = (int) (o - tcpOff);
        final int totalLength = Ipv4Flyweight.HEADER_LENGTH + tcpLength;

        buf.set(BYTE, off + Ipv4Flyweight.VERSION_IHL_OFFSET,
            (byte) ((Ipv4Flyweight.VERSION_4 << 4) | Ipv4Flyweight.MIN_IHL));
        ip.wrap(buf, off)
            .tos(0)
            .totalLength(totalLength)
            .id(0)
            .flagsAndFragment(Ipv4Flyweight.FLAG_DF)
            .ttl(DEFAULT_TTL)
            .protocol(Ipv4Flyweight.PROTOCOL_TCP)
            .src(src)
            .dst(dst)
            .computeChecksum();

        writeTcpHeader(tcp, buf, tcpOff, tcpLength, srcPort, dstPort, seq, ack, flags, window);
        tcp.checksum(tcpChecksumIpv4(buf, off));
        return totalLength;
    }

    /** The TCP header without checksum (field left 0): data offset from {@code tcpLength}, reserved bits clear. */
    static void writeTcpHeader(TcpFlyweight tcp, MemorySegment buf, long tcpOff, int tcpLength, int srcPort,
                               int dstPort, int seq, int ack, int flags, int window) {
        // Data offset in the high nibble, reserved bits cleared.
        buf.set(BYTE, tcpOff + TcpFlyweight.DATA_OFFSET_OFFSET, (byte) ((tcpLength >>> 2) << 4));
        tcp.wrap(buf, tcpOff)
            .srcPort(srcPort)
            .dstPort(dstPort)
            .seq(seq)
            .ack(ack)
            .flags(flags)
            .window(window)
            .checksum(0)
            .urgentPointer(0);
    }

    /** Writes the option groups in the layout above at {@code o}; returns the offset after them. */
    static long writeOptions(MemorySegment buf, long at, int mss, int wscale, boolean sackPermitted,
                             boolean timestamps, int tsVal, int tsEcr) {
        long o = at;
        if (mss >= 0) {
            buf.set(NET_INT, o, MSS_HEAD | (mss & 0xFFFF));
            o += 4;
        }
        if (timestamps) {
            buf.set(NET_INT, o, sackPermitted ? SACK_PERM_TS_HEAD : NOP_NOP_TS_HEAD);
            buf.set(NET_INT, o + 4, tsVal);
            buf.set(NET_INT, o + 8, tsEcr);
            o += 12;
        } else if (sackPermitted) {
            buf.set(NET_INT, o, NOP_NOP_SACK_PERM);
            o += 4;
        }
        if (wscale >= 0) {
            buf.set(NET_INT, o, NOP_WSCALE_HEAD | (wscale & 0xFF));
            o += 4;
        }
        return o;
    }

    /**
     * TCP checksum over the IPv4 pseudo-header and the TCP segment (header as it is in memory, checksum field
     * included) of the already-validated IPv4 packet at {@code ipOff}: IHL and total length must lie inside
     * {@code seg}.
     *
     * @return the 16-bit checksum to store when the checksum field is 0; 0 when a filled-in checksum verifies
     */
    public static int tcpChecksumIpv4(MemorySegment seg, long ipOff) {
        final int ipHeaderLength = (seg.get(BYTE, ipOff + Ipv4Flyweight.VERSION_IHL_OFFSET) & 0x0F) << 2;
        final int tcpLength = (seg.get(Bits.NET_SHORT, ipOff + Ipv4Flyweight.TOTAL_LENGTH_OFFSET) & 0xFFFF)
            - ipHeaderLength;
        final long src = seg.get(NET_INT, ipOff + Ipv4Flyweight.SRC_OFFSET) & 0xFFFF_FFFFL;
        final long dst = seg.get(NET_INT, ipOff + Ipv4Flyweight.DST_OFFSET) & 0xFFFF_FFFFL;
        // Pseudo-header: src, dst, zero, protocol, TCP length. Sum of 16-bit halves, at most 19 bits.
        final int pseudo = (int) ((src >>> 16) + (src & 0xFFFF) + (dst >>> 16) + (dst & 0xFFFF)
            + Ipv4Flyweight.PROTOCOL_TCP + tcpLength);
        return Bits.fold(Bits.onesComplementSum(seg, ipOff + ipHeaderLength, tcpLength, pseudo)) & 0xFFFF;
    }
}
