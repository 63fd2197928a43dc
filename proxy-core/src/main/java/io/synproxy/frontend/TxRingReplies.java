package io.synproxy.frontend;

import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.TcpSegment;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.synproxy.linux.Constants.ARPHRD_ETHER;

/**
 * Replies through an AF_PACKET {@link TxRing} when the capture frame that prompted them came in over Ethernet on the
 * ring's interface, else (loopback, tun, another interface, a VLAN tag, the ring full) through the raw sockets of
 * {@link RawReplies}. {@link #buffer()} hands out the next ring frame's IP packet area (a slice made once per frame at
 * construction), {@link #send} queues it, and the ring frames leave at {@link #flush()}, the end of each drain, or
 * every {@link #BATCH} frames.
 *
 * <p>The link-level facts come from the capture ring's frame ({@link #replyTo}): its {@code struct sockaddr_ll}
 * (after the 32-byte {@code tpacket2_hdr}) holds the interface, the hardware type and the source MAC, which becomes
 * the reply's destination MAC.
 *
 * <p>One instance per event loop; nothing is allocated per reply and a ring reply costs no syscall.
 */
public final class TxRingReplies implements Replies, AutoCloseable {
    /** Frames queued before a flush even in the middle of a drain: bounds a reply's wait behind a burst. */
    public static final int BATCH = 128;

    static final long SLL = 32;
    static final long SLL_IFINDEX = SLL + 4;
    static final long SLL_HATYPE = SLL + 8;
    static final long SLL_HALEN = SLL + 11;
    static final long SLL_ADDR = SLL + 12;
    static final int TP_STATUS_VLAN_VALID = 0x10;

    private final TxRing ring;
    private final Replies fallback;
    private final Counters counters;
    private final MemorySegment[] slots;
    private MemorySegment rxMem;
    private long rxFrame = -1;
    private boolean viaRing;

    /**
     * @param ring the TX ring, closed with this
     * @param fallback where replies go when the ring cannot take them (the raw sockets); closed by its owner
     */
    public TxRingReplies(TxRing ring, Replies fallback, Counters counters) {
        this.ring = ring;
        this.fallback = fallback;
        this.counters = counters;
        this.slots = new MemorySegment[ring.frames()];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = ring.memory().asSlice((long) i * TxRing.FRAME_SIZE + ring.ipOffset(),
                    TxRing.FRAME_SIZE - ring.ipOffset());
        }
    }

    /** One phrase for the start line: which path replies take. */
    public static String describe(boolean txRing, String why) {
        return txRing ? "replies through an AF_PACKET TX ring (qdisc bypass), raw socket as fallback"
                : "replies through a raw socket (" + why + ")";
    }

    @Override
    public void replyTo(MemorySegment ring, long frame) {
        this.rxMem = ring;
        this.rxFrame = frame;
    }

    /** The next ring frame when the capture frame is Ethernet on our interface and the ring has room. */
    @Override
    public MemorySegment buffer() {
        if (rxFrame >= 0 && (rxMem.get(ValueLayout.JAVA_INT, rxFrame) & TP_STATUS_VLAN_VALID) == 0
                && rxMem.get(ValueLayout.JAVA_INT, rxFrame + SLL_IFINDEX) == ring.ifindex()
                && rxMem.get(ValueLayout.JAVA_SHORT, rxFrame + SLL_HATYPE) == ARPHRD_ETHER
                && rxMem.get(ValueLayout.JAVA_BYTE, rxFrame + SLL_HALEN) == 6) {
            long at = ring.claim();
            if (at >= 0) {
                viaRing = true;
                return slots[(int) (at / TxRing.FRAME_SIZE)];
            }
            counters.increment(Counter.TX_FALLBACK);
        }
        viaRing = false;
        return fallback.buffer();
    }

    /** A ring reply is only queued (always accepted); a fallback reply is sent at once. */
    @Override
    public boolean send(int length, long hi, long lo) {
        if (!viaRing) {
            return fallback.send(length, hi, lo);
        }
        viaRing = false;
        ring.commit(length, !TcpSegment.isMapped(hi, lo), rxMem, rxFrame + SLL_ADDR);
        counters.increment(Counter.TX_RING);
        if (ring.queued() >= BATCH) {
            flush();
        }
        return true;
    }

    /** Packets to ourselves take the raw socket: the kernel loops them back (a ring frame would leave the host). */
    @Override
    public MemorySegment localBuffer() {
        viaRing = false;
        return fallback.buffer();
    }

    @Override
    public boolean sendLocal(int length, long hi, long lo) {
        return fallback.send(length, hi, lo);
    }

    @Override
    public MemorySegment packetBuffer() {
        return fallback.packetBuffer();
    }

    @Override
    public boolean sendLocalPacket(int length, long hi, long lo) {
        return fallback.sendLocalPacket(length, hi, lo);
    }

    /** Hands the queued ring frames to the driver: one syscall, nothing when none is queued. */
    @Override
    public void flush() {
        ring.flush();
        long refused = ring.takeRefused();
        if (refused != 0) {
            counters.add(Counter.TX_DROPS, refused);
        }
        fallback.flush();
    }

    @Override
    public void close() {
        ring.close();
    }
}
