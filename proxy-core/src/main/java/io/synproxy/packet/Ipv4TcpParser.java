package io.synproxy.packet;

import static io.synproxy.packet.Bits.BYTE;

import java.lang.foreign.MemorySegment;

/**
 * Validates an Ethernet/IPv4/TCP frame and exposes its fields through reused flyweights. One instance per receive
 * loop; nothing is allocated per packet. Bad input never throws: the first failing check is returned as a
 * {@link Reject}. Accessors are meaningful only after a {@link Reject#NONE} result, until the next parse.
 *
 * <p>Checks, in order: IPv4 version, captured length covers 20 bytes, IHL &gt;= 5, captured length covers the
 * header, total length within [header, captured] (trailing bytes such as Ethernet padding are ignored), not a
 * fragment, header checksum, protocol TCP, at least 20 bytes of TCP, data offset within [5, IP payload], TCP checksum
 * over pseudo-header and segment (optional), TCP options.
 */
public final class Ipv4TcpParser {
    private final EthernetFlyweight ethernet = new EthernetFlyweight();
    private final Ipv4Flyweight ip = new Ipv4Flyweight();
    private final TcpFlyweight tcp = new TcpFlyweight();
    private final TcpOptions options = new TcpOptions();
    private long payloadOffset;
    private int payloadLength;

    /**
     * Parses a frame starting with an Ethernet II header.
     *
     * @param capturedLength bytes captured from {@code frameOffset}; clamped to what {@code seg} holds
     * @param verifyTcpChecksum false when the kernel reports the checksum as not yet computed (offload)
     */
    public Reject parseFrame(MemorySegment seg, long frameOffset, int capturedLength, boolean verifyTcpChecksum) {
        final int captured = available(seg, frameOffset, capturedLength);
        if (captured < EthernetFlyweight.HEADER_LENGTH) {
            return Reject.TRUNCATED_ETHERNET;
        }
        if (ethernet.wrap(seg, frameOffset).etherType() != EthernetFlyweight.ETHERTYPE_IPV4) {
            return Reject.NOT_IPV4;
        }
        return parse(seg, frameOffset + EthernetFlyweight.HEADER_LENGTH,
            captured - EthernetFlyweight.HEADER_LENGTH, verifyTcpChecksum);
    }

    /**
     * Parses an IPv4 packet carrying TCP.
     *
     * @param capturedLength bytes captured from {@code ipOffset}; clamped to what {@code seg} holds
     * @param verifyTcpChecksum false when the kernel reports the checksum as not yet computed (offload)
     */
    public Reject parse(MemorySegment seg, long ipOffset, int capturedLength, boolean verifyTcpChecksum) {
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
        final int tcpLength = totalLength - ipHeaderLength;
        if (tcpLength < TcpFlyweight.HEADER_LENGTH) {
            return Reject.TRUNCATED_TCP;
        }
        final long tcpOffset = ipOffset + ipHeaderLength;
        final TcpFlyweight tcp = this.tcp.wrap(seg, tcpOffset);
        final int dataOffset = tcp.dataOffset();
        final int tcpHeaderLength = dataOffset << 2;
        if (dataOffset < TcpFlyweight.MIN_DATA_OFFSET || tcpHeaderLength > tcpLength) {
            return Reject.BAD_DATA_OFFSET;
        }
        if (verifyTcpChecksum && Ipv4TcpWriter.tcpChecksumIpv4(seg, ipOffset) != 0) {
            return Reject.BAD_TCP_CHECKSUM;
        }
        final Reject optionsResult = options.parse(seg, tcpOffset + TcpFlyweight.OPTIONS_OFFSET,
            tcpHeaderLength - TcpFlyweight.HEADER_LENGTH);
        if (optionsResult != Reject.NONE) {
            return optionsResult;
        }
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

    /** The IPv4 header of the last parsed packet. */
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

    public int src() {
        return ip.src();
    }

    public int dst() {
        return ip.dst();
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

    /** TCP payload bytes, per the IP total length (padding excluded). */
    public int payloadLength() {
        return payloadLength;
    }
}
