package io.synproxy.packet;

import java.lang.foreign.MemorySegment;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_SHORT;

/**
 * Validates an IPv4/TCP or IPv6/TCP packet and is the view of the last one that passed: one view for both families,
 * with 128-bit addresses (an IPv4 address in its IPv4-mapped form {@code ::ffff:a.b.c.d}, see {@link #mapped}). One
 * instance per receive loop; nothing is allocated per packet. Bad input never throws: the first failing check is
 * returned as a {@link Reject}. Accessors are meaningful only after a {@link Reject#NONE} result, until the next
 * parse.
 *
 * <p>IPv4 checks, in order: version 4, captured length covers 20 bytes, IHL &gt;= 5, captured length covers the
 * header, total length within [header, captured] (trailing bytes such as Ethernet padding are ignored), not a
 * fragment, header checksum, protocol TCP.
 *
 * <p>IPv6 checks, in order: version 6, captured length covers 40 bytes, payload length non-zero (no jumbograms) and
 * within the captured bytes, then the extension-header chain: hop-by-hop options (only first), destination options and
 * a routing header with no segments left are skipped (at most {@link #MAX_EXTENSION_HEADERS}, each within the
 * payload), and so is an atomic fragment header (offset 0, M = 0: RFC 6946); a real fragment is
 * {@link Reject#IP_FRAGMENT}; any other next header is {@link Reject#NOT_TCP}.
 *
 * <p>Then for both: at least 20 bytes of TCP, data offset within [5, TCP length], the TCP checksum over the family's
 * pseudo-header (optional: false when the kernel reports it offloaded or verified), the TCP options.
 */
public final class TcpSegment {
    /** Longest extension-header chain that is walked before TCP. */
    public static final int MAX_EXTENSION_HEADERS = 4;
    /** The high 64 bits of an IPv4-mapped IPv6 address are 0; the low 64 are this prefix or the IPv4 address. */
    public static final long MAPPED_PREFIX = 0x0000_FFFF_0000_0000L;

    private final Ipv4Flyweight ip = new Ipv4Flyweight();
    private final Ipv6Flyweight ip6 = new Ipv6Flyweight();
    private final TcpFlyweight tcp = new TcpFlyweight();
    private final TcpOptions options = new TcpOptions();
    private boolean ipv6;
    private long srcHi;
    private long srcLo;
    private long dstHi;
    private long dstLo;
    private int extensionHeaders;
    private long ipOffset;
    private long tcpOffset;
    private long payloadOffset;
    private int payloadLength;

    /** The low half of the IPv4-mapped IPv6 form of an IPv4 address (the high half is 0). */
    public static long mapped(int ipv4) {
        return MAPPED_PREFIX | (ipv4 & 0xFFFF_FFFFL);
    }

    /** True when {@code hi:lo} is an IPv4-mapped address, i.e. stands for an IPv4 one. */
    public static boolean isMapped(long hi, long lo) {
        return hi == 0 && (lo & 0xFFFF_FFFF_0000_0000L) == MAPPED_PREFIX;
    }

    /**
     * Parses an IP packet of either family, told apart by the version nibble (anything but 6 is taken for IPv4 and
     * rejected there if it is not).
     *
     * @param capturedLength bytes captured from {@code ipOffset}; clamped to what {@code seg} holds
     * @param verifyTcpChecksum false when the kernel reports the checksum as not yet computed (offload)
     */
    public Reject parse(MemorySegment seg, long ipOffset, int capturedLength, boolean verifyTcpChecksum) {
        if (isIpv6(seg, ipOffset, capturedLength)) {
            return parse6(seg, ipOffset, capturedLength, verifyTcpChecksum);
        }
        return parse4(seg, ipOffset, capturedLength, verifyTcpChecksum);
    }

    /** True when the packet's version nibble says IPv6 (what {@link #parse} goes by); cheap, checks nothing else. */
    public static boolean isIpv6(MemorySegment seg, long ipOffset, int capturedLength) {
        return available(seg, ipOffset, capturedLength) > 0
            && (seg.get(BYTE, ipOffset) & 0xF0) == (Ipv6Flyweight.VERSION_6 << 4);
    }

    /** Parses an IPv4 packet carrying TCP; anything else is rejected. */
    public Reject parse4(MemorySegment seg, long ipOffset, int capturedLength, boolean verifyTcpChecksum) {
        final int captured = available(seg, ipOffset, capturedLength);
        if (captured >= 1 && (seg.get(BYTE, ipOffset) & 0xF0) != (Ipv4Flyweight.VERSION_4 << 4)) {
            return Reject.NOT_IPV4;
        }
        if (captured < Ipv4Flyweight.HEADER_LENGTH) {
            return Reject.TRUNCATED_IP;
        }
        final Ipv4Flyweight ip = this.ip.wrap(seg, ipOffset);
        final int ihl = ip.ihl();
        if (ihl < Ipv4Flyweight.MIN_IHL) {
            return Reject.BAD_IHL;
        }
        final int ipHeaderLength = ihl << 2;
        if (ipHeaderLength > captured) {
            return Reject.TRUNCATED_IP;
        }
        final int totalLength = ip.totalLength();
        if (totalLength < ipHeaderLength || totalLength > captured) {
            return Reject.BAD_IP_LENGTH;
        }
        if ((ip.flagsAndFragment() & (Ipv4Flyweight.FLAG_MF | Ipv4Flyweight.FRAGMENT_OFFSET_MASK)) != 0) {
            return Reject.IP_FRAGMENT;
        }
        if (Bits.fold(Bits.onesComplementSum(seg, ipOffset, ipHeaderLength, 0)) != 0) {
            return Reject.BAD_IP_CHECKSUM;
        }
        if (ip.protocol() != Ipv4Flyweight.PROTOCOL_TCP) {
            return Reject.NOT_TCP;
        }
        final Reject tcpResult = parseTcp(seg, ipOffset, ipOffset + ipHeaderLength, totalLength - ipHeaderLength,
            false, verifyTcpChecksum);
        if (tcpResult != Reject.NONE) {
            return tcpResult;
        }
        ipv6 = false;
        srcHi = 0;
        srcLo = mapped(ip.src());
        dstHi = 0;
        dstLo = mapped(ip.dst());
        extensionHeaders = 0;
        return Reject.NONE;
    }

    /** Parses an IPv6 packet carrying TCP; anything else is rejected. */
    public Reject parse6(MemorySegment seg, long ipOffset, int capturedLength, boolean verifyTcpChecksum) {
        final int captured = available(seg, ipOffset, capturedLength);
        if (captured >= 1 && (seg.get(BYTE, ipOffset) & 0xF0) != (Ipv6Flyweight.VERSION_6 << 4)) {
            return Reject.NOT_IPV6;
        }
        if (captured < Ipv6Flyweight.HEADER_LENGTH) {
            return Reject.TRUNCATED_IP;
        }
        final Ipv6Flyweight ip6 = this.ip6.wrap(seg, ipOffset);
        final int ipPayload = ip6.payloadLength();
        if (ipPayload == 0 || ipPayload > captured - Ipv6Flyweight.HEADER_LENGTH) {
            return Reject.BAD_IPV6_LENGTH;
        }
        int next = ip6.nextHeader();
        long header = ipOffset + Ipv6Flyweight.HEADER_LENGTH;
        int remaining = ipPayload;
        int walked = 0;
        while (next != Ipv6Flyweight.NEXT_TCP) {
            if (next != Ipv6Flyweight.NEXT_HOP_BY_HOP && next != Ipv6Flyweight.NEXT_DESTINATION_OPTIONS
                && next != Ipv6Flyweight.NEXT_ROUTING && next != Ipv6Flyweight.NEXT_FRAGMENT) {
                return Reject.NOT_TCP;
            }
            if (walked == MAX_EXTENSION_HEADERS || (next == Ipv6Flyweight.NEXT_HOP_BY_HOP && walked != 0)) {
                return Reject.BAD_IPV6_EXTENSION;
            }
            if (remaining < 8) {
                return Reject.BAD_IPV6_LENGTH;
            }
            // An atomic fragment is the whole packet (RFC 6946); a real fragment has no TCP header of its own.
            if (next == Ipv6Flyweight.NEXT_FRAGMENT
                && !Ipv6Fragment.isAtomic(seg.get(NET_SHORT, header + Ipv6Fragment.OFFSET_AND_FLAGS) & 0xFFFF)) {
                return Reject.IP_FRAGMENT;
            }
            final int length = next == Ipv6Flyweight.NEXT_FRAGMENT ? Ipv6Fragment.LENGTH
                : ((seg.get(BYTE, header + 1) & 0xFF) + 1) << 3;
            if (length > remaining) {
                return Reject.BAD_IPV6_LENGTH;
            }
            // Segments left != 0: the destination address is not the final one; nothing of ours.
            if (next == Ipv6Flyweight.NEXT_ROUTING && seg.get(BYTE, header + 3) != 0) {
                return Reject.BAD_IPV6_EXTENSION;
            }
            next = seg.get(BYTE, header) & 0xFF;
            header += length;
            remaining -= length;
            walked++;
        }
        final Reject tcpResult = parseTcp(seg, ipOffset, header, remaining, true, verifyTcpChecksum);
        if (tcpResult != Reject.NONE) {
            return tcpResult;
        }
        ipv6 = true;
        srcHi = ip6.srcHi();
        srcLo = ip6.srcLo();
        dstHi = ip6.dstHi();
        dstLo = ip6.dstLo();
        extensionHeaders = walked;
        return Reject.NONE;
    }

    /** The family-neutral tail: TCP header, checksum over the family's pseudo-header, options. */
    private Reject parseTcp(MemorySegment seg, long ipOffset, long tcpOffset, int tcpLength, boolean v6,
                            boolean verifyTcpChecksum) {
        if (tcpLength < TcpFlyweight.HEADER_LENGTH) {
            return Reject.TRUNCATED_TCP;
        }
        final TcpFlyweight tcp = this.tcp.wrap(seg, tcpOffset);
        final int dataOffset = tcp.dataOffset();
        final int tcpHeaderLength = dataOffset << 2;
        if (dataOffset < TcpFlyweight.MIN_DATA_OFFSET || tcpHeaderLength > tcpLength) {
            return Reject.BAD_DATA_OFFSET;
        }
        if (verifyTcpChecksum
            && (v6 ? TcpChecksum.ipv6(seg, ipOffset, tcpOffset, tcpLength) : TcpChecksum.ipv4(seg, ipOffset)) != 0) {
            return Reject.BAD_TCP_CHECKSUM;
        }
        final Reject optionsResult = options.parse(seg, tcpOffset + TcpFlyweight.OPTIONS_OFFSET,
            tcpHeaderLength - TcpFlyweight.HEADER_LENGTH);
        if (optionsResult != Reject.NONE) {
            return optionsResult;
        }
        this.ipOffset = ipOffset;
        this.tcpOffset = tcpOffset;
        payloadOffset = tcpOffset + tcpHeaderLength;
        payloadLength = tcpLength - tcpHeaderLength;
        return Reject.NONE;
    }

    private static int available(MemorySegment seg, long offset, int capturedLength) {
        final long inSegment = seg.byteSize() - offset;
        if (offset < 0 || inSegment <= 0 || capturedLength <= 0) {
            return 0;
        }
        return (int) Math.min(capturedLength, inSegment);
    }

    /**
     * Copies the last parsed packet, from its IP header to the end of its payload, out of {@code seg} (the memory it
     * was parsed from) to the start of {@code to}, with its TCP checksum computed whole: a captured one may be only
     * the pseudo-header's part, which a local sender leaves for the NIC to complete (TP_STATUS_CSUMNOTREADY).
     *
     * @return the packet's length, or -1 when it does not fit in {@code to} (nothing is written then)
     */
    public int copyWithChecksum(MemorySegment seg, MemorySegment to) {
        final int length = (int) (payloadOffset + payloadLength - ipOffset);
        if (length > to.byteSize()) {
            return -1;
        }
        MemorySegment.copy(seg, ipOffset, to, 0, length);
        final long tcp = tcpOffset - ipOffset;
        to.set(NET_SHORT, tcp + TcpFlyweight.CHECKSUM_OFFSET, (short) 0);
        final int sum = ipv6 ? TcpChecksum.ipv6(to, 0, tcp, length - (int) tcp) : TcpChecksum.ipv4(to, 0);
        to.set(NET_SHORT, tcp + TcpFlyweight.CHECKSUM_OFFSET, (short) sum);
        return length;
    }

    /** True for an IPv6 packet, false for IPv4. */
    public boolean ipv6() {
        return ipv6;
    }

    /** The IPv4 header of the last parsed packet (IPv4 only). */
    public Ipv4Flyweight ip() {
        return ip;
    }

    /** The TCP header of the last parsed packet. */
    public TcpFlyweight tcp() {
        return tcp;
    }

    /** The TCP options of the last parsed packet. */
    public TcpOptions options() {
        return options;
    }

    /** Source address bits 127..64 (0 for IPv4). */
    public long srcHi() {
        return srcHi;
    }

    /** Source address bits 63..0 (IPv4: {@link #mapped}). */
    public long srcLo() {
        return srcLo;
    }

    /** Destination address bits 127..64 (0 for IPv4). */
    public long dstHi() {
        return dstHi;
    }

    /** Destination address bits 63..0 (IPv4: {@link #mapped}). */
    public long dstLo() {
        return dstLo;
    }

    /** The IPv4 source address (meaningful for IPv4 only). */
    public int src() {
        return (int) srcLo;
    }

    /** The IPv4 destination address (meaningful for IPv4 only). */
    public int dst() {
        return (int) dstLo;
    }

    /** IPv6 extension headers skipped before the TCP header (0 for IPv4). */
    public int extensionHeaders() {
        return extensionHeaders;
    }

    public int srcPort() {
        return tcp.srcPort();
    }

    public int dstPort() {
        return tcp.dstPort();
    }

    public int seq() {
        return tcp.seq();
    }

    public int ack() {
        return tcp.ack();
    }

    public int flags() {
        return tcp.flags();
    }

    public int window() {
        return tcp.window();
    }

    /** Absolute offset of the TCP payload in the parsed segment. */
    public long payloadOffset() {
        return payloadOffset;
    }

    /** TCP payload bytes, per the IP length fields (padding excluded). */
    public int payloadLength() {
        return payloadLength;
    }
}
