package io.synproxy.packet;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_LONG;
import static io.synproxy.packet.Bits.NET_SHORT;

import java.lang.foreign.MemorySegment;

/**
 * Validates an IPv6/TCP packet and exposes its fields through reused flyweights: the IPv6 counterpart of
 * {@link Ipv4TcpParser}. One instance per receive loop; nothing is allocated per packet. Bad input never throws: the
 * first failing check is returned as a {@link Reject}.
 *
 * <p>Checks, in order: version 6, captured length covers 40 bytes, payload length non-zero (no jumbograms) and within
 * the captured bytes (trailing bytes are ignored), then the extension-header chain: hop-by-hop options (only first),
 * destination options and a routing header with no segments left are skipped (at most {@link #MAX_EXTENSION_HEADERS},
 * each within the payload); an atomic fragment header (offset 0, M = 0: RFC 6946) is skipped as well, a real
 * fragment is {@link Reject#IP_FRAGMENT}; any other next header is
 * {@link Reject#NOT_TCP}. Then, as for IPv4: at least 20 bytes of TCP, data offset within [5, TCP length], the TCP
 * checksum over the IPv6 pseudo-header (optional; never zero-optional in IPv6), the TCP options.
 */
public final class Ipv6TcpParser {
    public static final int NEXT_HOP_BY_HOP = 0;
    public static final int NEXT_TCP = 6;
    public static final int NEXT_ROUTING = 43;
    public static final int NEXT_FRAGMENT = 44;
    public static final int NEXT_DESTINATION_OPTIONS = 60;
    /** Longest extension-header chain that is walked before TCP. */
    public static final int MAX_EXTENSION_HEADERS = 4;

    private final TcpFlyweight tcp = new TcpFlyweight();
    private final TcpOptions options = new TcpOptions();
    private long srcHi;
    private long srcLo;
    private long dstHi;
    private long dstLo;
    private int extensionHeaders;
    private long payloadOffset;
    private int payloadLength;

    /**
     * Parses an IPv6 packet carrying TCP.
     *
     * @param capturedLength bytes captured from {@code ipOffset}; clamped to what {@code seg} holds
     * @param verifyTcpChecksum false when the kernel reports the checksum as not yet computed (offload)
     */
    public Reject parse(MemorySegment seg, long ipOffset, int capturedLength, boolean verifyTcpChecksum) {
        final int captured = available(seg, ipOffset, capturedLength);
        if (captured >= 1 && (seg.get(BYTE, ipOffset) & 0xF0) != (Ipv6TcpWriter.VERSION_6 << 4)) {
            return Reject.NOT_IPV6;
        }
        if (captured < Ipv6TcpWriter.HEADER_LENGTH) {
            return Reject.TRUNCATED_IP;
        }
        final int ipPayload = seg.get(NET_SHORT, ipOffset + Ipv6TcpWriter.PAYLOAD_LENGTH_OFFSET) & 0xFFFF;
        if (ipPayload == 0 || ipPayload > captured - Ipv6TcpWriter.HEADER_LENGTH) {
            return Reject.BAD_IPV6_LENGTH;
        }
        int next = seg.get(BYTE, ipOffset + Ipv6TcpWriter.NEXT_HEADER_OFFSET) & 0xFF;
        long header = ipOffset + Ipv6TcpWriter.HEADER_LENGTH;
        int remaining = ipPayload;
        int walked = 0;
        while (next != NEXT_TCP) {
            if (next != NEXT_HOP_BY_HOP && next != NEXT_DESTINATION_OPTIONS && next != NEXT_ROUTING
                    && next != NEXT_FRAGMENT) {
                return Reject.NOT_TCP;
            }
            if (walked == MAX_EXTENSION_HEADERS || (next == NEXT_HOP_BY_HOP && walked != 0)) {
                return Reject.BAD_IPV6_EXTENSION;
            }
            if (remaining < 8) {
                return Reject.BAD_IPV6_LENGTH;
            }
            // An atomic fragment is the whole packet (RFC 6946); a real fragment has no TCP header of its own.
            if (next == NEXT_FRAGMENT
                    && !Ipv6Fragment.isAtomic(seg.get(NET_SHORT, header + Ipv6Fragment.OFFSET_AND_FLAGS) & 0xFFFF)) {
                return Reject.IP_FRAGMENT;
            }
            final int length = next == NEXT_FRAGMENT ? Ipv6Fragment.LENGTH
                    : ((seg.get(BYTE, header + 1) & 0xFF) + 1) << 3;
            if (length > remaining) {
                return Reject.BAD_IPV6_LENGTH;
            }
            // Segments left != 0: the destination address is not the final one; nothing of ours.
            if (next == NEXT_ROUTING && seg.get(BYTE, header + 3) != 0) {
                return Reject.BAD_IPV6_EXTENSION;
            }
            next = seg.get(BYTE, header) & 0xFF;
            header += length;
            remaining -= length;
            walked++;
        }
        final int tcpLength = remaining;
        if (tcpLength < TcpFlyweight.HEADER_LENGTH) {
            return Reject.TRUNCATED_TCP;
        }
        final TcpFlyweight tcp = this.tcp.wrap(seg, header);
        final int dataOffset = tcp.dataOffset();
        final int tcpHeaderLength = dataOffset << 2;
        if (dataOffset < TcpFlyweight.MIN_DATA_OFFSET || tcpHeaderLength > tcpLength) {
            return Reject.BAD_DATA_OFFSET;
        }
        if (verifyTcpChecksum && Ipv6TcpWriter.tcpChecksumIpv6(seg, ipOffset, header, tcpLength) != 0) {
            return Reject.BAD_TCP_CHECKSUM;
        }
        final Reject optionsResult = options.parse(seg, header + TcpFlyweight.OPTIONS_OFFSET,
            tcpHeaderLength - TcpFlyweight.HEADER_LENGTH);
        if (optionsResult != Reject.NONE) {
            return optionsResult;
        }
        srcHi = seg.get(NET_LONG, ipOffset + Ipv6TcpWriter.SRC_OFFSET);
        srcLo = seg.get(NET_LONG, ipOffset + Ipv6TcpWriter.SRC_OFFSET + 8);
        dstHi = seg.get(NET_LONG, ipOffset + Ipv6TcpWriter.DST_OFFSET);
        dstLo = seg.get(NET_LONG, ipOffset + Ipv6TcpWriter.DST_OFFSET + 8);
        extensionHeaders = walked;
        payloadOffset = header + tcpHeaderLength;
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

    /** The TCP header of the last parsed packet. */
    public TcpFlyweight tcp() {
        return tcp;
    }

    /** The TCP options of the last parsed packet. */
    public TcpOptions options() {
        return options;
    }

    /** Source address bits 127..64. */
    public long srcHi() {
        return srcHi;
    }

    /** Source address bits 63..0. */
    public long srcLo() {
        return srcLo;
    }

    public long dstHi() {
        return dstHi;
    }

    public long dstLo() {
        return dstLo;
    }

    /** Extension headers skipped before the TCP header. */
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

    /** TCP payload bytes, per the IPv6 payload length (padding excluded). */
    public int payloadLength() {
        return payloadLength;
    }
}
