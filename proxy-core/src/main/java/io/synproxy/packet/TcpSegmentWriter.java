package io.synproxy.packet;

import java.lang.foreign.MemorySegment;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_INT;

/**
 * Writes option-carrying TCP control segments (SYN/ACKs, window updates, RSTs) of either family into a preallocated
 * buffer, with every checksum. The caller fills the segment by name, then writes it:
 *
 * <pre>{@code
 * writer.from(localHi, localLo, 80).to(clientHi, clientLo, 40000).seq(isn).ack(clientIsn + 1)
 *       .flags(TcpFlyweight.SYN | TcpFlyweight.ACK).mss(1460).wscale(7).sackPermitted(true)
 *       .timestamps(tsNow, clientTsVal).write(buf, off);
 * }</pre>
 *
 * The family follows the addresses: IPv4-mapped ones ({@link TcpSegment#mapped}) make an IPv4 packet (20-byte header,
 * TOS 0, id 0, DF, TTL 64), others an IPv6 one (40-byte header, no extension headers, hop limit 64). {@link #write}
 * starts the next segment from the defaults: no flags, window 0, no options. One instance per sender; nothing is
 * allocated per packet.
 *
 * <p>TCP options follow Linux's {@code tcp_options_write} layout for a SYN/ACK, each group on a 4-byte boundary:
 *
 * <pre>
 * +--------+--------+--------+--------+
 * |  kind=2| len=4  |       MSS       |   if mss set
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
 * |  NOP   |  kind=3| len=3  |  shift |   if wscale set
 * +--------+--------+--------+--------+
 * </pre>
 */
public final class TcpSegmentWriter {
    /** Longest IPv4 packet written: 20 bytes of IPv4, 20 of TCP, 20 of options. */
    public static final int MAX_LENGTH_IPV4 = 60;
    /** Longest packet written (IPv6): 40 bytes of IPv6, 20 of TCP, 20 of options. */
    public static final int MAX_LENGTH = 80;
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
    private final Ipv6Flyweight ip6 = new Ipv6Flyweight();
    private final TcpFlyweight tcp = new TcpFlyweight();
    private long srcHi;
    private long srcLo;
    private long dstHi;
    private long dstLo;
    private int srcPort;
    private int dstPort;
    private int seq;
    private int ack;
    private int flags;
    private int window;
    private int mss = -1;
    private int wscale = -1;
    private boolean sackPermitted;
    private boolean timestamps;
    private int tsVal;
    private int tsEcr;

    /** Source address (two 64-bit halves; IPv4 as mapped) and port. */
    public TcpSegmentWriter from(long hi, long lo, int port) {
        srcHi = hi;
        srcLo = lo;
        srcPort = port;
        return this;
    }

    /** Destination address (two 64-bit halves; IPv4 as mapped) and port. */
    public TcpSegmentWriter to(long hi, long lo, int port) {
        dstHi = hi;
        dstLo = lo;
        dstPort = port;
        return this;
    }

    public TcpSegmentWriter seq(int seq) {
        this.seq = seq;
        return this;
    }

    public TcpSegmentWriter ack(int ack) {
        this.ack = ack;
        return this;
    }

    /** TCP flags ({@link TcpFlyweight#SYN} etc.). */
    public TcpSegmentWriter flags(int flags) {
        this.flags = flags;
        return this;
    }

    /** The raw (unscaled) window field. */
    public TcpSegmentWriter window(int window) {
        this.window = window;
        return this;
    }

    /** MSS option value, or -1 for none. */
    public TcpSegmentWriter mss(int mss) {
        this.mss = mss;
        return this;
    }

    /** Window scale shift, or -1 for none (written as given; the caller clamps). */
    public TcpSegmentWriter wscale(int wscale) {
        this.wscale = wscale;
        return this;
    }

    public TcpSegmentWriter sackPermitted(boolean sackPermitted) {
        this.sackPermitted = sackPermitted;
        return this;
    }

    /** The timestamps option with these values. */
    public TcpSegmentWriter timestamps(int tsVal, int tsEcr) {
        return timestamps(true, tsVal, tsEcr);
    }

    /** The timestamps option with these values when {@code on}, none otherwise. */
    public TcpSegmentWriter timestamps(boolean on, int tsVal, int tsEcr) {
        this.timestamps = on;
        this.tsVal = tsVal;
        this.tsEcr = tsEcr;
        return this;
    }

    /**
     * Writes the segment filled in so far, without payload, at {@code off} and starts the next one from the defaults;
     * {@code buf} must hold {@link #MAX_LENGTH} bytes there ({@link #MAX_LENGTH_IPV4} for IPv4).
     *
     * @return the packet length (IPv4 total length; IPv6 40 + payload length)
     */
    public int write(MemorySegment buf, long off) {
        final boolean v4 = TcpSegment.isMapped(srcHi, srcLo);
        final long tcpOff = off + (v4 ? Ipv4Flyweight.HEADER_LENGTH : Ipv6Flyweight.HEADER_LENGTH);
        final int tcpLength = (int) (writeOptions(buf, tcpOff + TcpFlyweight.OPTIONS_OFFSET) - tcpOff);
        final int length;
        if (v4) {
            length = Ipv4Flyweight.HEADER_LENGTH + tcpLength;
            buf.set(BYTE, off + Ipv4Flyweight.VERSION_IHL_OFFSET,
                (byte) ((Ipv4Flyweight.VERSION_4 << 4) | Ipv4Flyweight.MIN_IHL));
            ip.wrap(buf, off)
                .tos(0)
                .totalLength(length)
                .id(0)
                .flagsAndFragment(Ipv4Flyweight.FLAG_DF)
                .ttl(DEFAULT_TTL)
                .protocol(Ipv4Flyweight.PROTOCOL_TCP)
                .src((int) srcLo)
                .dst((int) dstLo)
                .computeChecksum();
        } else {
            length = Ipv6Flyweight.HEADER_LENGTH + tcpLength;
            ip6.wrap(buf, off).header(tcpLength, Ipv6Flyweight.NEXT_TCP, DEFAULT_TTL, srcHi, srcLo, dstHi, dstLo);
        }
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
        tcp.checksum(v4 ? TcpChecksum.ipv4(buf, off) : TcpChecksum.ipv6(buf, off, tcpOff, tcpLength));
        reset();
        return length;
    }

    private void reset() {
        flags = 0;
        window = 0;
        mss = -1;
        wscale = -1;
        sackPermitted = false;
        timestamps = false;
    }

    /** Writes the option groups in the layout above at {@code at}; returns the offset after them. */
    private long writeOptions(MemorySegment buf, long at) {
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
}
