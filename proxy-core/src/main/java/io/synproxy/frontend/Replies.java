package io.synproxy.frontend;

import static io.synproxy.linux.Constants.ARPHRD_ETHER;

import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Where one event loop's replies (SYN/ACKs, window updates, RSTs) leave: the TX ring when the frame that
 * prompted the reply came in over Ethernet on the ring's interface, else (loopback, tun, another interface, a
 * VLAN tag, the ring full) the family's raw socket. The same role as a raw sender, in two steps: {@link #begin}
 * says where to write ({@link #buffer()} at the returned offset), {@link #send} queues or sends it. Ring frames
 * leave at {@link #flush()}, called at the end of each drain, or every {@link #BATCH} frames.
 *
 * <p>The link-level facts come from the capture ring's frame: its {@code struct sockaddr_ll} (after the
 * 32-byte {@code tpacket2_hdr}) holds the interface, the hardware type and the source MAC.
 *
 * <p>One instance per event loop; nothing is allocated per reply and a ring reply costs no syscall.
 */
public final class Replies implements AutoCloseable {
    /** Frames queued before a flush even in the middle of a drain: bounds a reply's wait behind a burst. */
    public static final int BATCH = 128;

    static final long SLL = 32;
    static final long SLL_IFINDEX = SLL + 4;
    static final long SLL_HATYPE = SLL + 8;
    static final long SLL_HALEN = SLL + 11;
    static final long SLL_ADDR = SLL + 12;
    static final int TP_STATUS_VLAN_VALID = 0x10;

    private final TxRing ring;
    private final RawSender raw4;
    private final RawSender raw6;
    private final Counters counters;
    private MemorySegment target;
    private boolean viaRing;
    private MemorySegment mac;
    private long macOffset;

    /**
     * @param ring the TX ring, or null to send everything on the raw sockets
     * @param raw4 the IPv4 raw sender, or null when no IPv4 address is protected
     * @param raw6 the IPv6 raw sender, or null when no IPv6 address is protected
     */
    public Replies(TxRing ring, RawSender raw4, RawSender raw6, Counters counters) {
        this.ring = ring;
        this.raw4 = raw4;
        this.raw6 = raw6;
        this.counters = counters;
    }

    /** One phrase for the start line: which path replies take. */
    public static String describe(boolean txRing, String why) {
        return txRing ? "replies through an AF_PACKET TX ring (qdisc bypass), raw socket as fallback"
                : "replies through a raw socket (" + why + ")";
    }

    /**
     * Chooses where the reply to the capture frame at {@code rxFrame} of {@code rxMem} goes and returns the
     * offset in {@link #buffer()} to write its IP packet at.
     */
    public long begin(MemorySegment rxMem, long rxFrame, boolean ipv6) {
        if (ring != null && (rxMem.get(ValueLayout.JAVA_INT, rxFrame) & TP_STATUS_VLAN_VALID) == 0
                && rxMem.get(ValueLayout.JAVA_INT, rxFrame + SLL_IFINDEX) == ring.ifindex()
                && rxMem.get(ValueLayout.JAVA_SHORT, rxFrame + SLL_HATYPE) == ARPHRD_ETHER
                && rxMem.get(ValueLayout.JAVA_BYTE, rxFrame + SLL_HALEN) == 6) {
            long at = ring.claim();
            if (at >= 0) {
                target = ring.memory();
                viaRing = true;
                mac = rxMem;
                macOffset = rxFrame + SLL_ADDR;
                return at;
            }
            counters.increment(Counter.TX_FALLBACK);
        }
        target = ipv6 ? raw6.buffer() : raw4.buffer();
        viaRing = false;
        return 0;
    }

    /** Where to write the reply {@link #begin} placed. */
    public MemorySegment buffer() {
        return target;
    }

    /**
     * Sends the reply of {@code length} bytes written at the offset {@link #begin} returned, to the client
     * {@code hi:lo} (IPv4: the address in the low 32 bits). A ring reply is only queued.
     *
     * @return false when the raw socket refused it
     */
    public boolean send(int length, boolean ipv6, long hi, long lo) {
        if (viaRing) {
            ring.commit(length, ipv6, mac, macOffset);
            counters.increment(Counter.TX_RING);
            if (ring.queued() >= BATCH) {
                flush();
            }
            return true;
        }
        return ipv6 ? raw6.send6(length, hi, lo) : raw4.send(length, (int) lo);
    }

    /** Hands the queued ring frames to the driver: one syscall, nothing when none is queued. */
    public void flush() {
        if (ring != null) {
            ring.flush();
            long refused = ring.takeRefused();
            if (refused != 0) {
                counters.add(Counter.TX_DROPS, refused);
            }
        }
    }

    @Override
    public void close() {
        if (ring != null) {
            ring.close();
        }
    }
}
