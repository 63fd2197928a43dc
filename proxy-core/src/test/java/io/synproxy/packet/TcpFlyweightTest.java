package io.synproxy.packet;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class TcpFlyweightTest {

    private final TcpFlyweight tcp = new TcpFlyweight();

    @Test
    void shouldReadEveryFieldOfTheVector() {
        tcp.wrap(Frames.seg(Frames.linuxSyn()), Frames.ETH + 20);
        assertEquals(Frames.SRC_PORT, tcp.srcPort());
        assertEquals(Frames.DST_PORT, tcp.dstPort());
        assertEquals(Frames.SEQ, tcp.seq());
        assertEquals(0, tcp.ack());
        assertEquals(10, tcp.dataOffset());
        assertEquals(40, tcp.headerLength());
        assertEquals(TcpFlyweight.SYN, tcp.flags());
        assertEquals(64240, tcp.window());
        assertEquals(Frames.TCP_CHECKSUM, tcp.checksum());
        assertEquals(0, tcp.urgentPointer());
    }

    @Test
    void shouldHaveRfc793AndRfc3168FlagBits() {
        assertEquals(0x01, TcpFlyweight.FIN);
        assertEquals(0x02, TcpFlyweight.SYN);
        assertEquals(0x04, TcpFlyweight.RST);
        assertEquals(0x08, TcpFlyweight.PSH);
        assertEquals(0x10, TcpFlyweight.ACK);
        assertEquals(0x20, TcpFlyweight.URG);
        assertEquals(0x40, TcpFlyweight.ECE);
        assertEquals(0x80, TcpFlyweight.CWR);
    }

    @Test
    void shouldRoundTripEverySetterInNetworkByteOrder() {
        final byte[] b = new byte[22];
        // Data offset 15: the writer puts that byte whole; the flyweight only reads it.
        b[1 + TcpFlyweight.DATA_OFFSET_OFFSET] = (byte) 0xF0;
        tcp.wrap(Frames.seg(b), 1)
            .srcPort(0xFFFF)
            .dstPort(80)
            .seq(0xDEAD_BEEF)
            .ack(0x0102_0304)
            .flags(TcpFlyweight.SYN | TcpFlyweight.ACK | TcpFlyweight.CWR)
            .window(0xFFFF)
            .checksum(0xA1B2)
            .urgentPointer(0x0C0D);
        assertArrayEquals(Frames.HEX.parseHex(
            "00" + "ffff0050" + "deadbeef" + "01020304" + "f092ffff" + "a1b20c0d" + "00"), b);
        assertEquals(0xFFFF, tcp.srcPort());
        assertEquals(80, tcp.dstPort());
        assertEquals(0xDEAD_BEEF, tcp.seq());
        assertEquals(0x0102_0304, tcp.ack());
        assertEquals(15, tcp.dataOffset());
        assertEquals(60, tcp.headerLength());
        assertEquals(0x92, tcp.flags());
        assertEquals(0xFFFF, tcp.window());
        assertEquals(0xA1B2, tcp.checksum());
        assertEquals(0x0C0D, tcp.urgentPointer());
    }

    @Test
    void shouldIgnoreReservedBitsWhenReadingDataOffset() {
        final byte[] b = new byte[20];
        b[TcpFlyweight.DATA_OFFSET_OFFSET] = 0x5F;
        tcp.wrap(Frames.seg(b), 0);
        assertEquals(5, tcp.dataOffset());
        assertEquals(20, tcp.headerLength());
    }
}
