package io.synproxy.packet;

import io.synproxy.testsupport.TcpPacket;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Ipv4FlyweightTest {

    private final Ipv4Flyweight ip = new Ipv4Flyweight();

    @Test
    void shouldReadEveryFieldOfTheVector() {
        final byte[] b = Frames.linuxSyn();
        ip.wrap(Frames.seg(b), Frames.ETH);
        assertEquals(4, ip.version());
        assertEquals(5, ip.ihl());
        assertEquals(20, ip.headerLength());
        assertEquals(0, ip.tos());
        assertEquals(60, ip.totalLength());
        assertEquals(0x1c46, ip.id());
        assertEquals(0x4000, ip.flagsAndFragment());
        assertTrue(ip.dontFragment());
        assertFalse(ip.moreFragments());
        assertEquals(0, ip.fragmentOffset());
        assertEquals(64, ip.ttl());
        assertEquals(6, ip.protocol());
        assertEquals(Frames.IP_CHECKSUM, ip.checksum());
        assertEquals(Frames.SRC, ip.src());
        assertEquals(Frames.DST, ip.dst());
        assertTrue(TcpPacket.ipv4HeaderChecksumValid(b, Frames.ETH));
    }

    @Test
    void shouldComputeTheChecksumOfTheVector() {
        final byte[] b = Frames.linuxSyn();
        ip.wrap(Frames.seg(b), Frames.ETH).checksum(0xBEEF);
        assertFalse(TcpPacket.ipv4HeaderChecksumValid(b, Frames.ETH));
        ip.computeChecksum();
        assertEquals(Frames.IP_CHECKSUM, ip.checksum());
        assertArrayEquals(Frames.linuxSyn(), b);
    }

    @Test
    void shouldRoundTripEverySetter() {
        final byte[] b = new byte[24];
        Arrays.fill(b, (byte) 0x5A);
        // Version and IHL share a byte the writer puts whole; the flyweight only reads them.
        b[4] = 0x45;
        ip.wrap(Frames.seg(b), 4)
            .tos(0xB8)
            .totalLength(0xFFFF)
            .id(0xABCD)
            .flagsAndFragment(Ipv4Flyweight.FLAG_DF | Ipv4Flyweight.FLAG_MF | 0x1FFF)
            .ttl(255)
            .protocol(17)
            .src(0xFFFF_FFFF)
            .dst(0x7F00_0001)
            .computeChecksum();
        assertEquals(4, ip.version());
        assertEquals(5, ip.ihl());
        assertEquals(0xB8, ip.tos());
        assertEquals(0xFFFF, ip.totalLength());
        assertEquals(0xABCD, ip.id());
        assertEquals(0x7FFF, ip.flagsAndFragment());
        assertTrue(ip.moreFragments());
        assertTrue(ip.dontFragment());
        assertEquals(0x1FFF, ip.fragmentOffset());
        assertEquals(255, ip.ttl());
        assertEquals(17, ip.protocol());
        assertEquals(0xFFFF_FFFF, ip.src());
        assertEquals(0x7F00_0001, ip.dst());
        assertTrue(TcpPacket.ipv4HeaderChecksumValid(b, 4));
        assertEquals(TcpPacket.checksum(Frames.seg(withZeroChecksum(b, 4)), 4, 20, 0), ip.checksum());
        assertEquals(0x5A5A_5A5A, b[0] << 24 | (b[1] & 0xFF) << 16 | (b[2] & 0xFF) << 8 | (b[3] & 0xFF));
    }

    @Test
    void shouldReadNibblesAndFlagsIndependently() {
        final byte[] b = new byte[20];
        ip.wrap(Frames.seg(b), 0);
        b[0] = 0x4F;
        assertEquals(4, ip.version());
        assertEquals(15, ip.ihl());
        assertEquals(60, ip.headerLength());
        b[0] = 0x65;
        assertEquals(6, ip.version());
        assertEquals(5, ip.ihl());
        assertEquals(20, ip.headerLength());

        ip.flagsAndFragment(Ipv4Flyweight.FLAG_DF | Ipv4Flyweight.FLAG_MF | 0x0123);
        assertTrue(ip.dontFragment());
        assertTrue(ip.moreFragments());
        assertEquals(0x0123, ip.fragmentOffset());
        ip.flagsAndFragment(0x0123);
        assertFalse(ip.dontFragment());
        assertFalse(ip.moreFragments());
        assertEquals(0x0123, ip.fragmentOffset());
        ip.flagsAndFragment(Ipv4Flyweight.FLAG_MF);
        assertFalse(ip.dontFragment());
        assertTrue(ip.moreFragments());
        assertEquals(0, ip.fragmentOffset());
    }

    private static byte[] withZeroChecksum(byte[] b, int ipOff) {
        final byte[] copy = b.clone();
        Frames.put16(copy, ipOff + 10, 0);
        return copy;
    }
}
