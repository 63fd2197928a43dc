package io.synproxy.packet;

import java.lang.foreign.MemorySegment;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_INT;
import static io.synproxy.packet.Bits.NET_SHORT;

/**
 * Flyweight over a TCP header (RFC 793, section 3.1; flag bits per RFC 3168). Getters return unsigned values as
 * {@code int}, except sequence and acknowledgment numbers which are raw 32-bit values (see {@link Bits#seqLt}).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |       |C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 * |       |       |R|E|G|K|H|T|N|N|                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                             data                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 */
public final class TcpFlyweight {
    public static final int SRC_PORT_OFFSET = 0;
    public static final int DST_PORT_OFFSET = 2;
    public static final int SEQ_OFFSET = 4;
    public static final int ACK_OFFSET = 8;
    public static final int DATA_OFFSET_OFFSET = 12;
    public static final int FLAGS_OFFSET = 13;
    public static final int WINDOW_OFFSET = 14;
    public static final int CHECKSUM_OFFSET = 16;
    public static final int URGENT_POINTER_OFFSET = 18;
    public static final int OPTIONS_OFFSET = 20;
    /** Length of a header without options (data offset 5). */
    public static final int HEADER_LENGTH = 20;
    /** Longest header (data offset 15). */
    public static final int MAX_HEADER_LENGTH = 60;
    public static final int MIN_DATA_OFFSET = 5;

    public static final int FIN = 0x01;
    public static final int SYN = 0x02;
    public static final int RST = 0x04;
    public static final int PSH = 0x08;
    public static final int ACK = 0x10;
    public static final int URG = 0x20;
    public static final int ECE = 0x40;
    public static final int CWR = 0x80;

    private MemorySegment segment;
    private long offset;

    /** Points this flyweight at the header starting at {@code offset}. */
    public TcpFlyweight wrap(MemorySegment segment, long offset) {
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

    public int srcPort() {
        return u16(SRC_PORT_OFFSET);
    }

    public TcpFlyweight srcPort(int port) {
        put16(SRC_PORT_OFFSET, port);
        return this;
    }

    public int dstPort() {
        return u16(DST_PORT_OFFSET);
    }

    public TcpFlyweight dstPort(int port) {
        put16(DST_PORT_OFFSET, port);
        return this;
    }

    public int seq() {
        return segment.get(NET_INT, offset + SEQ_OFFSET);
    }

    public TcpFlyweight seq(int seq) {
        segment.set(NET_INT, offset + SEQ_OFFSET, seq);
        return this;
    }

    public int ack() {
        return segment.get(NET_INT, offset + ACK_OFFSET);
    }

    public TcpFlyweight ack(int ack) {
        segment.set(NET_INT, offset + ACK_OFFSET, ack);
        return this;
    }

    /** Header length in 32-bit words. */
    public int dataOffset() {
        return u8(DATA_OFFSET_OFFSET) >>> 4;
    }

    /** Header length in bytes ({@code dataOffset() * 4}). */
    public int headerLength() {
        return dataOffset() << 2;
    }

    /** The eight flag bits CWR..FIN (low 8 bits). */
    public int flags() {
        return u8(FLAGS_OFFSET);
    }

    public TcpFlyweight flags(int flags) {
        put8(FLAGS_OFFSET, flags);
        return this;
    }

    public int window() {
        return u16(WINDOW_OFFSET);
    }

    public TcpFlyweight window(int window) {
        put16(WINDOW_OFFSET, window);
        return this;
    }

    public int checksum() {
        return u16(CHECKSUM_OFFSET);
    }

    public TcpFlyweight checksum(int checksum) {
        put16(CHECKSUM_OFFSET, checksum);
        return this;
    }

    public int urgentPointer() {
        return u16(URGENT_POINTER_OFFSET);
    }

    public TcpFlyweight urgentPointer(int urgentPointer) {
        put16(URGENT_POINTER_OFFSET, urgentPointer);
        return this;
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
