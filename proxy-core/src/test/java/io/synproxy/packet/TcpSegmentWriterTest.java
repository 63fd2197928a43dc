package io.synproxy.packet;

import io.synproxy.testsupport.TcpPacket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.stream.Stream;

import static io.synproxy.packet.Frames.ETH;
import static io.synproxy.packet.TcpSegment.mapped;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TcpSegmentWriterTest {

    private static final int SRC = 0x5db8d822;
    private static final int DST = 0xc0a8010a;
    private static final int SRC_PORT = 443;
    private static final int DST_PORT = 51234;
    private static final int SEQ = 0xF00D_CAFE;
    private static final int ACK = Frames.SEQ + 1;
    private static final int WINDOW = 65160;
    private static final int TS_VAL = 0x0102_0304;
    private static final int TS_ECR = Frames.TS_VAL;
    private static final int SYN_ACK = TcpFlyweight.SYN | TcpFlyweight.ACK;

    private final TcpSegmentWriter writer = new TcpSegmentWriter();
    private final TcpSegment parser = new TcpSegment();

    /** A frame buffer with an Ethernet header, the rest dirty so the writer must set every byte it relies on. */
    private static byte[] frameBuffer() {
        final byte[] b = new byte[ETH + TcpSegmentWriter.MAX_LENGTH_IPV4];
        Arrays.fill(b, (byte) 0xFF);
        System.arraycopy(Frames.DST_MAC, 0, b, 0, 6);
        System.arraycopy(Frames.SRC_MAC, 0, b, 6, 6);
        Frames.put16(b, 12, TcpPacket.ETHERTYPE_IPV4);
        return b;
    }

    private int write(byte[] b, int mss, int wscale, boolean sack, boolean ts) {
        return writer.from(0, mapped(SRC), SRC_PORT).to(0, mapped(DST), DST_PORT)
                .seq(SEQ).ack(ACK).flags(SYN_ACK).window(WINDOW).mss(mss)
                .wscale(wscale).sackPermitted(sack).timestamps(ts, TS_VAL, TS_ECR).write(Frames.seg(b), ETH);
    }

    static Stream<Arguments> everyOptionCombination() {
        final Stream.Builder<Arguments> all = Stream.builder();
        for (int mss : new int[] {-1, 1460}) {
            for (int wscale : new int[] {-1, 7}) {
                for (boolean sack : new boolean[] {false, true}) {
                    for (boolean ts : new boolean[] {false, true}) {
                        all.add(Arguments.of(mss, wscale, sack, ts));
                    }
                }
            }
        }
        return all.build();
    }

    @ParameterizedTest(name = "mss={0} wscale={1} sack={2} timestamps={3}")
    @MethodSource("everyOptionCombination")
    void shouldRoundTripEveryOptionCombinationThroughTheParser(int mss, int wscale, boolean sack, boolean ts) {
        final byte[] b = frameBuffer();
        final int length = write(b, mss, wscale, sack, ts);

        final String options = expectedOptionsHex(mss, wscale, sack, ts);
        assertEquals(40 + options.length() / 2, length);
        assertEquals(0, length % 4);
        assertTrue(length <= TcpSegmentWriter.MAX_LENGTH_IPV4);

        assertEquals(Reject.NONE, Frames.parseFrame(parser, Frames.seg(b), 0, ETH + length, true));
        assertTrue(TcpPacket.checksumsValid(b, ETH), "checksums verify under the independent implementation");
        assertEquals(SRC, parser.src());
        assertEquals(DST, parser.dst());
        assertEquals(SRC_PORT, parser.srcPort());
        assertEquals(DST_PORT, parser.dstPort());
        assertEquals(SEQ, parser.seq());
        assertEquals(ACK, parser.ack());
        assertEquals(SYN_ACK, parser.flags());
        assertEquals(WINDOW, parser.window());
        assertEquals(0, parser.payloadLength());
        assertEquals(ETH + length, parser.payloadOffset());

        final Ipv4Flyweight ip = parser.ip();
        assertEquals(4, ip.version());
        assertEquals(5, ip.ihl());
        assertEquals(0, ip.tos());
        assertEquals(length, ip.totalLength());
        assertEquals(0, ip.id());
        assertEquals(Ipv4Flyweight.FLAG_DF, ip.flagsAndFragment());
        assertEquals(64, ip.ttl());
        assertEquals(Ipv4Flyweight.PROTOCOL_TCP, ip.protocol());

        final TcpFlyweight tcp = parser.tcp();
        assertEquals(length - 20, tcp.headerLength());
        assertEquals(0, b[ETH + 20 + 12] & 0x0F, "reserved bits cleared");
        assertEquals(0, tcp.urgentPointer());

        final TcpOptions parsed = parser.options();
        assertEquals(mss, parsed.mss());
        assertEquals(wscale, parsed.wscale());
        assertEquals(sack, parsed.sackPermitted());
        assertEquals(ts, parsed.hasTimestamps());
        if (ts) {
            assertEquals(TS_VAL, parsed.tsVal());
            assertEquals(TS_ECR, parsed.tsEcr());
        }

        assertEquals(options, Frames.HEX.formatHex(b, ETH + 40, ETH + length));
    }

    /** Linux tcp_options_write order: MSS, (SACK_PERM+TS | NOP NOP TS), NOP NOP SACK_PERM, NOP WS. */
    private static String expectedOptionsHex(int mss, int wscale, boolean sack, boolean ts) {
        final StringBuilder s = new StringBuilder();
        if (mss >= 0) {
            s.append("0204").append(String.format("%04x", mss));
        }
        if (ts) {
            s.append(sack ? "0402080a" : "0101080a").append(String.format("%08x%08x", TS_VAL, TS_ECR));
        } else if (sack) {
            s.append("01010402");
        }
        if (wscale >= 0) {
            s.append("010303").append(String.format("%02x", wscale));
        }
        return s.toString();
    }

    @Test
    void shouldWriteLinuxSynAckOptionsWithTimestamps() {
        final byte[] b = frameBuffer();
        assertEquals(60, write(b, 1460, 7, true, true));
        assertEquals("020405b4" + "0402080a" + "01020304" + "6b2c1f3a" + "01030307",
            Frames.HEX.formatHex(b, ETH + 40, ETH + 60));
    }

    @Test
    void shouldWriteLinuxSynAckOptionsWithoutTimestamps() {
        final byte[] b = frameBuffer();
        assertEquals(52, write(b, 1460, 7, true, false));
        assertEquals("020405b4" + "01010402" + "01030307", Frames.HEX.formatHex(b, ETH + 40, ETH + 52));
    }

    @Test
    void shouldPadTimestampsWithoutSackWithTwoNops() {
        final byte[] b = frameBuffer();
        assertEquals(60, write(b, 1460, 7, false, true));
        assertEquals("020405b4" + "0101080a" + "01020304" + "6b2c1f3a" + "01030307",
            Frames.HEX.formatHex(b, ETH + 40, ETH + 60));
    }

    @Test
    void shouldWriteABareWindowUpdate() {
        final byte[] b = frameBuffer();
        final int length = writer.from(0, mapped(SRC), SRC_PORT).to(0, mapped(DST), DST_PORT)
                .seq(SEQ).ack(ACK).flags(TcpFlyweight.ACK).window(1024).write(Frames.seg(b), ETH);
        assertEquals(40, length);
        assertEquals(Reject.NONE, Frames.parseFrame(parser, Frames.seg(b), 0, ETH + length, true));
        assertEquals(TcpFlyweight.ACK, parser.flags());
        assertEquals(1024, parser.window());
        assertEquals(5, parser.tcp().dataOffset());
    }

    @Test
    void shouldReproduceTheLinuxSynTcpSegmentByteForByte() {
        final byte[] b = new byte[TcpSegmentWriter.MAX_LENGTH_IPV4];
        final int length = writer.from(0, mapped(Frames.SRC), Frames.SRC_PORT)
                .to(0, mapped(Frames.DST), Frames.DST_PORT).seq(Frames.SEQ).ack(0).flags(TcpFlyweight.SYN)
                .window(64240).mss(1460).wscale(7).sackPermitted(true).timestamps(Frames.TS_VAL, 0)
                .write(Frames.seg(b), 0);
        final byte[] syn = Frames.linuxSyn();
        assertEquals(60, length);
        // TCP header and options identical, including the checksum 0x5437 computed elsewhere
        assertArrayEquals(Arrays.copyOfRange(syn, ETH + 20, ETH + 60), Arrays.copyOfRange(b, 20, 60));
        // IP header identical except id (writer uses 0) and hence the header checksum
        final byte[] expectedIp = Arrays.copyOfRange(syn, ETH, ETH + 20);
        Frames.put16(expectedIp, 4, 0);
        TcpPacket.fixIpv4HeaderChecksum(expectedIp, 0);
        assertArrayEquals(expectedIp, Arrays.copyOfRange(b, 0, 20));
    }

    @Test
    void shouldComputeTheTcpChecksumOfTheVector() {
        final byte[] syn = Frames.linuxSyn();
        final MemorySegment seg = Frames.seg(syn);
        assertEquals(0, TcpChecksum.ipv4(seg, ETH), "a filled-in checksum verifies to 0");
        Frames.put16(syn, ETH + 20 + 16, 0);
        assertEquals(Frames.TCP_CHECKSUM, TcpChecksum.ipv4(seg, ETH));
    }

    @Test
    void shouldComputeTheTcpChecksumOverAnOddLengthPayload() {
        final byte[] frame = Frames.linuxSynWithPayload(new byte[] {'a', 'b', 'c'});
        assertEquals(0, TcpChecksum.ipv4(Frames.seg(frame), ETH));
    }

    @Test
    void shouldNotTouchBytesOutsideTheWrittenPacket() {
        final byte[] b = new byte[7 + TcpSegmentWriter.MAX_LENGTH_IPV4 + 5];
        Arrays.fill(b, (byte) 0xAA);
        final int length = writer.from(0, mapped(SRC), SRC_PORT).to(0, mapped(DST), DST_PORT)
                .seq(SEQ).ack(ACK).flags(SYN_ACK).window(WINDOW).mss(1460).write(Frames.seg(b), 7);
        assertEquals(44, length);
        for (int i = 0; i < 7; i++) {
            assertEquals((byte) 0xAA, b[i], "byte " + i);
        }
        for (int i = 7 + length; i < b.length; i++) {
            assertEquals((byte) 0xAA, b[i], "byte " + i);
        }
        assertEquals(Reject.NONE, parser.parse4(Frames.seg(b), 7, length, true));
    }

    @Test
    void shouldWriteExtremeValuesAsGiven() {
        final byte[] b = frameBuffer();
        final int length = writer.from(0, mapped(-1), 0xFFFF).to(0, mapped(0), 0)
                .seq(-1).ack(Integer.MIN_VALUE).flags(0xFF)
                .window(0xFFFF).mss(0xFFFF).wscale(14).sackPermitted(true).timestamps(-1, Integer.MIN_VALUE)
                .write(Frames.seg(b), ETH);
        assertEquals(Reject.NONE, Frames.parseFrame(parser, Frames.seg(b), 0, ETH + length, true));
        assertEquals(-1, parser.src());
        assertEquals(0, parser.dst());
        assertEquals(0xFFFF, parser.srcPort());
        assertEquals(0, parser.dstPort());
        assertEquals(-1, parser.seq());
        assertEquals(Integer.MIN_VALUE, parser.ack());
        assertEquals(0xFF, parser.flags());
        assertEquals(0xFFFF, parser.window());
        assertEquals(0xFFFF, parser.options().mss());
        assertEquals(14, parser.options().wscale());
        assertEquals(-1, parser.options().tsVal());
        assertEquals(Integer.MIN_VALUE, parser.options().tsEcr());
    }
}
