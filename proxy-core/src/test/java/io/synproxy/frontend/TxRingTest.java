package io.synproxy.frontend;

import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.Bits;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
    void withAVirtioHeaderTheWholeFrameIsItsHeaderLengthAndNothingOfAnEarlierUseRemains() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate(TxRing.FRAME_SIZE, 8);
            // What a frame held before: an offload request left in it must not survive a reuse.
            mem.fill((byte) 0x5a);
            TxRing ring = TxRing.inMemory(mem, 1, OUR_MAC, true);
            MemorySegment peer = arena.allocate(8);
            peer.copyFrom(MemorySegment.ofArray(new byte[] {0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0, 0}));
            mem.set(ValueLayout.JAVA_INT, 0, TxRing.STATUS_AVAILABLE);

            long at = ring.claim();
            assertEquals(TxRing.DATA + TxRing.VNET_HDR + TxRing.ETH_HEADER, at);
            assertEquals(at, ring.ipOffset());
            ring.commit(60, false, peer, 0);
            // tp_len covers the virtio header and the frame; the Ethernet header follows the virtio header.
            assertEquals(TxRing.VNET_HDR + 74, mem.get(ValueLayout.JAVA_INT, TxRing.FRAME_LEN));
            long vnet = TxRing.DATA;
            assertEquals(0, mem.get(ValueLayout.JAVA_BYTE, vnet), "flags: no checksum offload");
            assertEquals(0, mem.get(ValueLayout.JAVA_BYTE, vnet + 1), "gso_type: none");
            assertEquals(74, mem.get(ValueLayout.JAVA_SHORT_UNALIGNED, vnet + 2), "hdr_len: the whole frame");
            for (long field = vnet + 4; field < vnet + TxRing.VNET_HDR; field += 2) {
                assertEquals(0, mem.get(ValueLayout.JAVA_SHORT_UNALIGNED, field), "gso_size, csum_start, csum_offset");
            }
            long eth = TxRing.DATA + TxRing.VNET_HDR;
            assertEquals(eth, ring.ethOffset());
            assertEquals(0x0a0b0c0d, mem.get(Bits.NET_INT, eth));
            assertEquals(0x02112233, mem.get(Bits.NET_INT, eth + 6));
            assertEquals(0x0800, mem.get(Bits.NET_SHORT, eth + 12));
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
            CountingReplies raw = new CountingReplies(arena);
            TxRingReplies replies = new TxRingReplies(ring, raw, counters);
            MemorySegment rx = arena.allocate(256, 8);
            rx.set(ValueLayout.JAVA_INT, TxRingReplies.SLL_IFINDEX, ring.ifindex());
            rx.set(ValueLayout.JAVA_SHORT, TxRingReplies.SLL_HATYPE, (short) 1);
            rx.set(ValueLayout.JAVA_BYTE, TxRingReplies.SLL_HALEN, (byte) 6);
            rx.set(Bits.NET_INT, TxRingReplies.SLL_ADDR, 0x0a0b0c0d);
            rx.set(Bits.NET_SHORT, TxRingReplies.SLL_ADDR + 4, (short) 0x0e0f);

            replies.replyTo(rx, 0);
            MemorySegment buffer = replies.buffer();
            assertEquals(mem.address() + TxRing.DATA + TxRing.ETH_HEADER, buffer.address());
            buffer.set(ValueLayout.JAVA_BYTE, 0, (byte) 0x45);
            assertTrue(replies.send(40, 0, 0xffff_0a00_0001L));
            assertEquals(0x0a0b0c0d, mem.get(Bits.NET_INT, TxRing.DATA));
            assertEquals(0x0800, mem.get(Bits.NET_SHORT, TxRing.DATA + 12));
            assertEquals(0x45, mem.get(ValueLayout.JAVA_BYTE, TxRing.DATA + TxRing.ETH_HEADER));
            assertEquals(1, counters.get(Counter.TX_RING));
            assertEquals(1, ring.queued());
            assertEquals(0, raw.sent);

            // The next reply takes the next frame.
            assertEquals(mem.address() + TxRing.FRAME_SIZE + TxRing.DATA + TxRing.ETH_HEADER,
                    replies.buffer().address());
            replies.send(60, 0x2001_0db8_0000_0000L, 1);
            assertEquals((short) 0x86DD, mem.get(Bits.NET_SHORT, TxRing.FRAME_SIZE + TxRing.DATA + 12));
            replies.flush();
            assertEquals(0, ring.queued());
            assertEquals(1, raw.flushes);
        }
    }

    @Test
    void aFullRingOrAFrameNotFromEthernetFallsBackToTheRawSocket() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate(TxRing.FRAME_SIZE, 8);
            TxRing ring = TxRing.inMemory(mem, 1, OUR_MAC);
            Counters counters = new Counters();
            CountingReplies raw = new CountingReplies(arena);
            TxRingReplies replies = new TxRingReplies(ring, raw, counters);
            MemorySegment rx = arena.allocate(256, 8);
            rx.set(ValueLayout.JAVA_INT, TxRingReplies.SLL_IFINDEX, ring.ifindex());
            rx.set(ValueLayout.JAVA_SHORT, TxRingReplies.SLL_HATYPE, (short) 772);
            replies.replyTo(rx, 0);
            assertSame(raw.buffer, replies.buffer(), "loopback: no Ethernet header");
            assertTrue(replies.send(40, 0, 0xffff_0a00_0001L));
            assertEquals(1, raw.sent);

            rx.set(ValueLayout.JAVA_SHORT, TxRingReplies.SLL_HATYPE, (short) 1);
            rx.set(ValueLayout.JAVA_BYTE, TxRingReplies.SLL_HALEN, (byte) 6);
            replies.buffer();
            replies.send(40, 0, 0xffff_0a00_0001L);
            assertSame(raw.buffer, replies.buffer(), "the one frame is still queued");
            replies.send(40, 0, 0xffff_0a00_0001L);
            assertEquals(2, raw.sent);
            assertEquals(1, counters.get(Counter.TX_FALLBACK));
            assertEquals(1, counters.get(Counter.TX_RING));
        }
    }

    /** The raw-socket stand-in: counts what it is asked to send. */
    private static final class CountingReplies implements Replies {
        private final MemorySegment buffer;
        private int sent;
        private int flushes;

        CountingReplies(Arena arena) {
            buffer = arena.allocate(128, 8);
        }

        @Override
        public MemorySegment buffer() {
            return buffer;
        }

        @Override
        public boolean send(int length, long hi, long lo) {
            sent++;
            return true;
        }

        @Override
        public void flush() {
            flushes++;
        }
    }
}
