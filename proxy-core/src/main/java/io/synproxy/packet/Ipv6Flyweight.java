package io.synproxy.packet;

import java.lang.foreign.MemorySegment;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_INT;
import static io.synproxy.packet.Bits.NET_LONG;
import static io.synproxy.packet.Bits.NET_SHORT;

/**
 * Flyweight over the fixed IPv6 header (RFC 8200, section 3). Addresses are two 64-bit halves in network order:
 * {@code fd00:200::1} is {@code hi = 0xfd00_0200_0000_0000L, lo = 1}.
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
 */
public final class Ipv6Flyweight {
    public static final int HEADER_LENGTH = 40;
    public static final int VERSION_6 = 6;
    public static final int PAYLOAD_LENGTH_OFFSET = 4;
    public static final int NEXT_HEADER_OFFSET = 6;
    public static final int HOP_LIMIT_OFFSET = 7;
    public static final int SRC_OFFSET = 8;
    public static final int DST_OFFSET = 24;
    public static final int NEXT_HOP_BY_HOP = 0;
    public static final int NEXT_TCP = 6;
    public static final int NEXT_ROUTING = 43;
    public static final int NEXT_FRAGMENT = 44;
    public static final int NEXT_DESTINATION_OPTIONS = 60;

    private MemorySegment segment;
    private long offset;

    /** Points this flyweight at the header starting at {@code offset}. */
    public Ipv6Flyweight wrap(MemorySegment segment, long offset) {
        this.segment = segment;
        this.offset = offset;
        return this;
    }

    public int payloadLength() {
        return segment.get(NET_SHORT, offset + PAYLOAD_LENGTH_OFFSET) & 0xFFFF;
    }

    public int nextHeader() {
        return segment.get(BYTE, offset + NEXT_HEADER_OFFSET) & 0xFF;
    }

    public long srcHi() {
        return segment.get(NET_LONG, offset + SRC_OFFSET);
    }

    public long srcLo() {
        return segment.get(NET_LONG, offset + SRC_OFFSET + 8);
    }

    public long dstHi() {
        return segment.get(NET_LONG, offset + DST_OFFSET);
    }

    public long dstLo() {
        return segment.get(NET_LONG, offset + DST_OFFSET + 8);
    }

    /** Writes the whole fixed header: version 6, traffic class and flow label 0. */
    public Ipv6Flyweight header(int payloadLength, int nextHeader, int hopLimit, long srcHi, long srcLo, long dstHi,
                                long dstLo) {
        segment.set(NET_INT, offset, VERSION_6 << 28);
        segment.set(NET_SHORT, offset + PAYLOAD_LENGTH_OFFSET, (short) payloadLength);
        segment.set(BYTE, offset + NEXT_HEADER_OFFSET, (byte) nextHeader);
        segment.set(BYTE, offset + HOP_LIMIT_OFFSET, (byte) hopLimit);
        segment.set(NET_LONG, offset + SRC_OFFSET, srcHi);
        segment.set(NET_LONG, offset + SRC_OFFSET + 8, srcLo);
        segment.set(NET_LONG, offset + DST_OFFSET, dstHi);
        segment.set(NET_LONG, offset + DST_OFFSET + 8, dstLo);
        return this;
    }
}
