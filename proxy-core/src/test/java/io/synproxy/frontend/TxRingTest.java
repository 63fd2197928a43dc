package io.synproxy.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.Bits;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

class TxRingTest {
    private static final byte[] OUR_MAC = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};

    @Test
    void framesAreQueuedInRingOrderWithTheirEthernetHeader() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate(4L * TxRing.FRAME_SIZE, 8);
            TxRing ring = TxRing.inMemory(mem, 4, OUR_MAC);
            MemorySegment peer = arena.allocate(8);
            peer.copyFrom(MemorySegment.ofArray(new byte[] {0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0, 0}));

            long at = ring.claim();
            assertEquals(TxRing.DATA + TxRing.ETH_HEADER, at);
            ring.commit(60, false, peer, 0);
            assertEquals(TxRing.STATUS_SEND_REQUEST, mem.get(ValueLayout.JAVA_INT, 0));
            assertEquals(74, mem.get(ValueLayout.JAVA_INT, TxRing.FRAME_LEN));
            assertEquals(0x0a0b0c0d, mem.get(Bits.NET_INT, TxRing.DATA));
            assertEquals(0x0e0f, mem.get(Bits.NET_SHORT, TxRing.DATA + 4));
            assertEquals(0x02112233, mem.get(Bits.NET_INT, TxRing.DATA + 6));
            assertEquals(0x4455, mem.get(Bits.NET_SHORT, TxRing.DATA + 10));
            assertEquals(0x0800, mem.get(Bits.NET_SHORT, TxRing.DATA + 12));

            assertEquals(TxRing.FRAME_SIZE + at, ring.claim());
            ring.commit(80, true, peer, 0);
            assertEquals((short) 0x86DD, mem.get(Bits.NET_SHORT, TxRing.FRAME_SIZE + TxRing.DATA + 12));
            assertEquals(2, ring.queued());
            ring.flush();
            assertEquals(0, ring.queued());
        }
    }

    @Test
    void aFullRingRefusesAndARefusedFrameIsCountedWhenTakenBack() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate(2L * TxRing.FRAME_SIZE, 8);
            TxRing ring = TxRing.inMemory(mem, 2, OUR_MAC);
            MemorySegment peer = arena.allocate(8);
            ring.claim();
            ring.commit(40, false, peer, 0);
            ring.claim();
            ring.commit(40, false, peer, 0);
            assertEquals(-1, ring.claim(), "both frames are the kernel's");
            // The kernel sent the first frame and refused the second.
            mem.set(ValueLayout.JAVA_INT, 0, TxRing.STATUS_AVAILABLE);
            mem.set(ValueLayout.JAVA_INT, TxRing.FRAME_SIZE, TxRing.STATUS_WRONG_FORMAT);
            assertEquals(TxRing.DATA + TxRing.ETH_HEADER, ring.claim());
            ring.commit(40, false, peer, 0);
            assertEquals(0, ring.takeRefused());
            assertEquals(TxRing.FRAME_SIZE + TxRing.DATA + TxRing.ETH_HEADER, ring.claim());
            assertEquals(1, ring.takeRefused());
            assertEquals(0, ring.takeRefused());
        }
    }

    @Test
    void repliesGoIntoTheRingAddressedToTheSourceOfTheCaptureFrame() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate(2L * TxRing.FRAME_SIZE, 8);
            TxRing ring = TxRing.inMemory(mem, 2, OUR_MAC);
            Counters counters = new Counters();
            Replies replies = new Replies(ring, null, null, counters);
            MemorySegment rx = arena.allocate(256, 8);
            rx.set(ValueLayout.JAVA_INT, Replies.SLL_IFINDEX, ring.ifindex());
            rx.set(ValueLayout.JAVA_SHORT, Replies.SLL_HATYPE, (short) 1);
            rx.set(ValueLayout.JAVA_BYTE, Replies.SLL_HALEN, (byte) 6);
            rx.set(Bits.NET_INT, Replies.SLL_ADDR, 0x0a0b0c0d);
            rx.set(Bits.NET_SHORT, Replies.SLL_ADDR + 4, (short) 0x0e0f);

            long at = replies.begin(rx, 0, false);
            assertEquals(mem, replies.buffer());
            assertEquals(TxRing.DATA + TxRing.ETH_HEADER, at);
            replies.send(40, false, 0, 0x0a000001);
            assertEquals(0x0a0b0c0d, mem.get(Bits.NET_INT, TxRing.DATA));
            assertEquals(1, counters.get(Counter.TX_RING));
            assertEquals(1, ring.queued());
            replies.flush();
            assertEquals(0, ring.queued());
        }
    }
}
