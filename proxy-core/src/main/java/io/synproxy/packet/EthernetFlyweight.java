package io.synproxy.packet;

import java.lang.foreign.MemorySegment;

import static io.synproxy.packet.Bits.NET_INT;
import static io.synproxy.packet.Bits.NET_SHORT;

/**
 * Flyweight over an Ethernet II header (no VLAN tag; AF_PACKET delivers VLAN tags out of band).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination MAC (48 bits)                  |
 * +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * |                      Source MAC (48 bits)                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           EtherType           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 */
public final class EthernetFlyweight {
    public static final int DST_MAC_OFFSET = 0;
    public static final int SRC_MAC_OFFSET = 6;
    public static final int ETHERTYPE_OFFSET = 12;
    public static final int HEADER_LENGTH = 14;

    public static final int ETHERTYPE_IPV4 = 0x0800;
    public static final int ETHERTYPE_IPV6 = 0x86DD;

    private static final long MAC_MASK = 0xFFFF_FFFF_FFFFL;

    private MemorySegment segment;
    private long offset;

    /** Points this flyweight at the header starting at {@code offset}. */
    public EthernetFlyweight wrap(MemorySegment segment, long offset) {
        this.segment = segment;
        this.offset = offset;
        return this;
    }

    public MemorySegment segment() {
        return segment;
    }

    public long offset() {
        return offset;
    }

    /** Destination MAC in the low 48 bits. */
    public long dstMac() {
        return getMac(offset + DST_MAC_OFFSET);
    }

    public EthernetFlyweight dstMac(long mac) {
        putMac(offset + DST_MAC_OFFSET, mac);
        return this;
    }

    /** Source MAC in the low 48 bits. */
    public long srcMac() {
        return getMac(offset + SRC_MAC_OFFSET);
    }

    public EthernetFlyweight srcMac(long mac) {
        putMac(offset + SRC_MAC_OFFSET, mac);
        return this;
    }

    public int etherType() {
        return segment.get(NET_SHORT, offset + ETHERTYPE_OFFSET) & 0xFFFF;
    }

    public EthernetFlyweight etherType(int etherType) {
        segment.set(NET_SHORT, offset + ETHERTYPE_OFFSET, (short) etherType);
        return this;
    }

    private long getMac(long at) {
        final long high = segment.get(NET_INT, at) & 0xFFFF_FFFFL;
        final long low = segment.get(NET_SHORT, at + 4) & 0xFFFF;
        return (high << 16) | low;
    }

    private void putMac(long at, long mac) {
        final long m = mac & MAC_MASK;
        segment.set(NET_INT, at, (int) (m >>> 16));
        segment.set(NET_SHORT, at + 4, (short) m);
    }
}
