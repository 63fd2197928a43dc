package io.synproxy.packet;

import java.lang.foreign.MemorySegment;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_INT;
import static io.synproxy.packet.Bits.NET_SHORT;

/**
 * Flyweight over an IPv4 header (RFC 791, section 3.1). Getters return unsigned values as {@code int}, except the
 * addresses which are raw 32-bit values.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |Type of Service|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |Flags|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Flags: bit 0 reserved, bit 1 DF (don't fragment), bit 2 MF (more fragments)
 * </pre>
 */
public final class Ipv4Flyweight {
    public static final int VERSION_IHL_OFFSET = 0;
    public static final int TOS_OFFSET = 1;
    public static final int TOTAL_LENGTH_OFFSET = 2;
    public static final int ID_OFFSET = 4;
    public static final int FLAGS_FRAGMENT_OFFSET = 6;
    public static final int TTL_OFFSET = 8;
    public static final int PROTOCOL_OFFSET = 9;
    public static final int CHECKSUM_OFFSET = 10;
    public static final int SRC_OFFSET = 12;
    public static final int DST_OFFSET = 16;
    /** Length of a header without options (IHL 5). */
    public static final int HEADER_LENGTH = 20;

    public static final int VERSION_4 = 4;
    public static final int MIN_IHL = 5;
    public static final int PROTOCOL_TCP = 6;
    /** Don't-fragment bit in {@link #flagsAndFragment()}. */
    public static final int FLAG_DF = 0x4000;
    /** More-fragments bit in {@link #flagsAndFragment()}. */
    public static final int FLAG_MF = 0x2000;
    /** Fragment offset (in 8-byte units) in {@link #flagsAndFragment()}. */
    public static final int FRAGMENT_OFFSET_MASK = 0x1FFF;

    private MemorySegment segment;
    private long offset;

    /** Points this flyweight at the header starting at {@code offset}. */
    public Ipv4Flyweight wrap(MemorySegment segment, long offset) {
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

    public int version() {
        return u8(VERSION_IHL_OFFSET) >>> 4;
    }

    /** Header length in 32-bit words. */
    public int ihl() {
        return u8(VERSION_IHL_OFFSET) & 0x0F;
    }

    /** Header length in bytes ({@code ihl() * 4}). */
    public int headerLength() {
        return ihl() << 2;
    }

    public int tos() {
        return u8(TOS_OFFSET);
    }

    public Ipv4Flyweight tos(int tos) {
        put8(TOS_OFFSET, tos);
        return this;
    }

    public int totalLength() {
        return u16(TOTAL_LENGTH_OFFSET);
    }

    public Ipv4Flyweight totalLength(int totalLength) {
        put16(TOTAL_LENGTH_OFFSET, totalLength);
        return this;
    }

    public int id() {
        return u16(ID_OFFSET);
    }

    public Ipv4Flyweight id(int id) {
        put16(ID_OFFSET, id);
        return this;
    }

    /** Raw 16 bits: 3 flag bits then the 13-bit fragment offset. */
    public int flagsAndFragment() {
        return u16(FLAGS_FRAGMENT_OFFSET);
    }

    public Ipv4Flyweight flagsAndFragment(int flagsAndFragment) {
        put16(FLAGS_FRAGMENT_OFFSET, flagsAndFragment);
        return this;
    }

    public boolean dontFragment() {
        return (flagsAndFragment() & FLAG_DF) != 0;
    }

    public boolean moreFragments() {
        return (flagsAndFragment() & FLAG_MF) != 0;
    }

    /** Fragment offset in 8-byte units. */
    public int fragmentOffset() {
        return flagsAndFragment() & FRAGMENT_OFFSET_MASK;
    }

    public int ttl() {
        return u8(TTL_OFFSET);
    }

    public Ipv4Flyweight ttl(int ttl) {
        put8(TTL_OFFSET, ttl);
        return this;
    }

    public int protocol() {
        return u8(PROTOCOL_OFFSET);
    }

    public Ipv4Flyweight protocol(int protocol) {
        put8(PROTOCOL_OFFSET, protocol);
        return this;
    }

    public int checksum() {
        return u16(CHECKSUM_OFFSET);
    }

    public Ipv4Flyweight checksum(int checksum) {
        put16(CHECKSUM_OFFSET, checksum);
        return this;
    }

    /** Source address, raw 32 bits (10.0.0.1 is 0x0A000001). */
    public int src() {
        return segment.get(NET_INT, offset + SRC_OFFSET);
    }

    public Ipv4Flyweight src(int src) {
        segment.set(NET_INT, offset + SRC_OFFSET, src);
        return this;
    }

    /** Destination address, raw 32 bits. */
    public int dst() {
        return segment.get(NET_INT, offset + DST_OFFSET);
    }

    public Ipv4Flyweight dst(int dst) {
        segment.set(NET_INT, offset + DST_OFFSET, dst);
        return this;
    }

    /** Fills the header checksum over {@link #headerLength()} bytes (IHL must be set first). */
    public Ipv4Flyweight computeChecksum() {
        checksum(0);
        return checksum(Bits.fold(Bits.onesComplementSum(segment, offset, headerLength(), 0)) & 0xFFFF);
    }

    private int u8(int field) {
        return segment.get(BYTE, offset + field) & 0xFF;
    }

    private int u16(int field) {
        return segment.get(NET_SHORT, offset + field) & 0xFFFF;
    }

    private void put8(int field, int value) {
        segment.set(BYTE, offset + field, (byte) value);
    }

    private void put16(int field, int value) {
        segment.set(NET_SHORT, offset + field, (short) value);
    }
}
