package io.synproxy.frontend;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handoff.Handoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.metrics.RingWaits;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A loop's two rings: when epoll reports the SYN ring, the other ring's frames (final ACKs) are handled first. */
class FrontendHandleTest {
    private static final int FRAMES = 4;
    private static final long NET = 80;

    @Test
    void shouldHandleTheOtherRingsFramesBeforeTheSyns() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment synMemory = arena.allocate((long) FRAMES * PacketRing.HEADER_FRAME_SIZE, 4096);
            MemorySegment restMemory = arena.allocate((long) FRAMES * PacketRing.HEADER_FRAME_SIZE, 4096);
            PacketRing syns = PacketRing.inMemory(synMemory, PacketRing.HEADER_FRAME_SIZE, FRAMES);
            PacketRing rest = PacketRing.inMemory(restMemory, PacketRing.HEADER_FRAME_SIZE, FRAMES);
            MemorySegment buffer = arena.allocate(256);
            Replies replies = new Replies() {
                @Override
                public MemorySegment buffer() {
                    return buffer;
                }

                @Override
                public boolean send(int length, long hi, long lo) {
                    return true;
                }
            };
            Handoff handoff = new Handoff() {
                @Override
                public int handoff(AckVerdict v, MemorySegment packet) {
                    throw new AssertionError("no cookie here is valid");
                }

                @Override
                public int lastReceiveWindow() {
                    return 1 << 20;
                }
            };
            ConnectionSink sink = (fd, v, onClose) -> {
                throw new AssertionError("nothing adopted");
            };
            List<Integer> seen = new ArrayList<>();
            Admission recording = segment -> {
                seen.add(segment.flags());
                return null;
            };
            Handshake handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)), 1460,
                    1440, 7, true);
            Counters counters = new Counters();
            SegmentGate gate = new SegmentGate(new GateSettings(true, false, new int[0], 100, 0), handshake, handoff,
                    replies, sink, recording, counters, SegmentGate::monotonicMillis);
            FrontendHandle restHandle = new FrontendHandle(rest, gate, replies, counters);
            FrontendHandle synHandle = new FrontendHandle(syns, gate, replies, counters,
                    RingWaits.NONE, restHandle, RingErrors.NONE);

            put(synMemory, 0, TcpFlyweight.SYN);
            put(synMemory, 1, TcpFlyweight.SYN);
            put(restMemory, 0, TcpFlyweight.ACK);
            synHandle.handle(null, null);
            assertEquals(List.of(TcpFlyweight.ACK, TcpFlyweight.SYN, TcpFlyweight.SYN), seen);

            // With nothing in the other ring, the SYN ring's turn is its own.
            seen.clear();
            put(synMemory, 2, TcpFlyweight.SYN);
            synHandle.handle(null, null);
            assertEquals(List.of(TcpFlyweight.SYN), seen);

            // A packet larger than its frame (GRO merged an upload's segments) is counted, not parsed nor rejected.
            seen.clear();
            put(restMemory, 1, TcpFlyweight.ACK);
            restMemory.set(ValueLayout.JAVA_INT, PacketRing.HEADER_FRAME_SIZE + PacketRing.FRAME_LEN, 64_000);
            restHandle.handle(null, null);
            assertEquals(List.of(), seen);
            assertEquals(1, counters.get(Counter.CAPTURE_SHORT));
            assertEquals(0, counters.get(Counter.PACKETS_REJECTED));
        }
    }

    private static void put(MemorySegment ring, int index, int flags) {
        long frame = (long) index * PacketRing.HEADER_FRAME_SIZE;
        int length = new TcpSegmentWriter().from(0, TcpSegment.mapped(0xC612_0001 + index), 40_000 + index)
                .to(0, TcpSegment.mapped(0x0A00_0001), 80).seq(1000 + index).ack(flags == TcpFlyweight.ACK ? 77 : 0)
                .flags(flags).window(64240).write(ring, frame + NET);
        ring.set(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_LEN, length);
        ring.set(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_SNAPLEN, length);
        ring.set(ValueLayout.JAVA_SHORT, frame + PacketRing.FRAME_NET, (short) NET);
        ring.set(ValueLayout.JAVA_BYTE, frame + PacketRing.LL_PKTTYPE, (byte) PacketRing.PACKET_HOST);
        ring.set(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_STATUS,
                PacketRing.TP_STATUS_USER | PacketRing.TP_STATUS_CSUM_VALID);
    }
}
