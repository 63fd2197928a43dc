package io.synproxy.packet;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class EthernetFlyweightTest {

    private final EthernetFlyweight eth = new EthernetFlyweight();

    @Test
    void shouldReadTheVectorHeader() {
        eth.wrap(Frames.seg(Frames.linuxSyn()), 0);
        assertEquals(0x0200_0000_0001L, eth.dstMac());
        assertEquals(0x0200_0000_0002L, eth.srcMac());
        assertEquals(EthernetFlyweight.ETHERTYPE_IPV4, eth.etherType());
    }

    @Test
    void shouldReadMacsAsUnsigned48Bits() {
        final byte[] b = new byte[14];
        Arrays.fill(b, (byte) 0xFF);
        eth.wrap(Frames.seg(b), 0);
        assertEquals(0xFFFF_FFFF_FFFFL, eth.dstMac());
        assertEquals(0xFFFF_FFFF_FFFFL, eth.srcMac());
        assertEquals(0xFFFF, eth.etherType());
    }

    @Test
    void shouldWriteFieldsAtAnOffsetWithoutTouchingNeighbours() {
        final byte[] b = new byte[20];
        Arrays.fill(b, (byte) 0xAA);
        assertSame(eth, eth.wrap(Frames.seg(b), 3)
            .dstMac(0x0011_2233_4455L)
            .srcMac(0xFF66_7788_99AA_BBCCL) // bits above 48 ignored
            .etherType(EthernetFlyweight.ETHERTYPE_IPV6));
        assertArrayEquals(Frames.HEX.parseHex("aaaaaa" + "001122334455" + "778899aabbcc" + "86dd" + "aaaaaa"), b);
        assertEquals(0x0011_2233_4455L, eth.dstMac());
        assertEquals(0x7788_99AA_BBCCL, eth.srcMac());
        assertEquals(EthernetFlyweight.ETHERTYPE_IPV6, eth.etherType());
        assertEquals(3, eth.offset());
    }
}
