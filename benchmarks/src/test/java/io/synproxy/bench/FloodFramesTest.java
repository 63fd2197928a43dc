package io.synproxy.bench;

import io.synproxy.handshake.Handshake;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpSegment;
import io.synproxy.testsupport.TcpPacket;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The flood's frames are what a Linux client would send, as the proxy's own parser sees them. */
class FloodFramesTest {
    private static final byte[] SRC_MAC = {2, 0, 0, 0, 0, 1};
    private static final byte[] DST_MAC = {2, 0, 0, 0, 0, 2};
    private static final int DST = TxRingFlood.ipv4(TestNet.SERVER_IP);

    @Test
    void shouldBuildValidSynsWithLinuxOptionsFromRandomSources() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(128);
            FloodFrames frames = new FloodFrames(SRC_MAC, DST_MAC, DST, 80, TxRingFlood.Kind.SYN, new SplittableRandom(1));
            TcpSegment parser = new TcpSegment();
            Set<Integer> sources = new HashSet<>();
            for (int i = 0; i < 10_000; i++) {
                int len = frames.write(seg, 0);
                assertEquals(14 + 20 + 40, len);
                assertEquals(Reject.NONE, parseFrame(parser, seg, len), "frame " + i);
                assertTrue(Handshake.isSyn(parser.flags()));
                assertEquals(DST, parser.dst());
                assertEquals(80, parser.dstPort());
                assertEquals(1460, parser.options().mss());
                assertEquals(7, parser.options().wscale());
                assertTrue(parser.options().sackPermitted());
                assertTrue(parser.options().hasTimestamps());
                int first = parser.src() >>> 24;
                assertTrue(first != 0 && first != 10 && first != 127 && first < 224, "source " + parser.src());
                sources.add(parser.src());
            }
            assertTrue(sources.size() > 9_900, "sources are random: " + sources.size());
        }
    }

    @Test
    void shouldBuildValidAcksWithRandomCookies() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(128);
            FloodFrames frames = new FloodFrames(SRC_MAC, DST_MAC, DST, 80, TxRingFlood.Kind.ACK, new SplittableRandom(2));
            TcpSegment parser = new TcpSegment();
            Set<Integer> acks = new HashSet<>();
            for (int i = 0; i < 1000; i++) {
                int len = frames.write(seg, 0);
                assertEquals(Reject.NONE, parseFrame(parser, seg, len));
                assertTrue(Handshake.isAck(parser.flags()));
                assertEquals(0, parser.payloadLength());
                acks.add(parser.ack());
            }
            assertTrue(acks.size() > 990);
        }
    }

    /** The flood writes Ethernet II frames carrying IPv4; the parser takes the IP packet behind the header. */
    private static Reject parseFrame(TcpSegment parser, MemorySegment seg, int len) {
        assertEquals(TcpPacket.ETHERTYPE_IPV4, (seg.get(ValueLayout.JAVA_BYTE, 12) & 0xFF) << 8
                | seg.get(ValueLayout.JAVA_BYTE, 13) & 0xFF, "EtherType");
        return parser.parse4(seg, TcpPacket.ETH_LEN, len - TcpPacket.ETH_LEN, true);
    }
}
