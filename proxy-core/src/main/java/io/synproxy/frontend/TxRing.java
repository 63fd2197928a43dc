package io.synproxy.frontend;

import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;
import io.synproxy.packet.Bits;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.net.NetworkInterface;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.synproxy.linux.Constants.AF_PACKET;
import static io.synproxy.linux.Constants.EAGAIN;
import static io.synproxy.linux.Constants.ETH_P_IP;
import static io.synproxy.linux.Constants.ETH_P_IPV6;
import static io.synproxy.linux.Constants.MAP_SHARED;
import static io.synproxy.linux.Constants.MSG_DONTWAIT;
import static io.synproxy.linux.Constants.PACKET_LOSS;
import static io.synproxy.linux.Constants.PACKET_QDISC_BYPASS;
import static io.synproxy.linux.Constants.PACKET_TX_RING;
import static io.synproxy.linux.Constants.PACKET_VERSION;
import static io.synproxy.linux.Constants.PACKET_VNET_HDR;
import static io.synproxy.linux.Constants.PROT_READ;
import static io.synproxy.linux.Constants.PROT_WRITE;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOCK_RAW;
import static io.synproxy.linux.Constants.SOL_PACKET;
import static io.synproxy.linux.Constants.TPACKET_V2;

/**
 * An AF_PACKET TPACKET_V2 transmit ring on one Ethernet interface: replies are written in place into its
 * mapped frames as whole Ethernet frames, and one {@code send()} hands every queued frame to the driver.
 * PACKET_QDISC_BYPASS sends them straight to the driver's xmit: no route lookup, no netfilter OUTPUT or
 * POSTROUTING, no neighbour lookup, no qdisc (and no copy to packet taps: tcpdump on this host does not see
 * them). The destination MAC is the one the prompting frame came from, so the reply goes back to the same
 * neighbour (the client on a LAN, the router otherwise) without asking the neighbour table.
 *
 * <p>Frame layout (TX, TPACKET_V2, no PACKET_TX_HAS_OFF): {@code tp_status} at 0, {@code tp_len} at 4, at
 * {@link #DATA} (TPACKET_ALIGN(sizeof(struct tpacket2_hdr))) a {@code struct virtio_net_hdr} when the socket has
 * PACKET_VNET_HDR, then the Ethernet frame ({@link #ethOffset()}).
 *
 * <p>Why the virtio header: without it the kernel copies only the Ethernet header into the socket buffer and
 * attaches the rest of the frame as a fragment of the ring's own page, marked zero-copy. Any device that hands the
 * buffer on to another receiver (veth, which every container's interface is) must then give the ring its frame
 * back first: it allocates a page, copies the fragment and frees the page again after the delivery, per
 * SYN/ACK. The header's {@code hdr_len} set to the whole frame makes the kernel copy all of it into the buffer's
 * own head instead (a few dozen bytes), and the page never comes into it. A kernel that refuses PACKET_VNET_HDR on
 * a TX ring sends the frames as before.
 *
 * <p>A frame is ours while its
 * status is AVAILABLE (or WRONG_FORMAT: the kernel refused it, counted when we take it back), the kernel's
 * while it is SEND_REQUEST or SENDING. Frames are queued strictly in ring order because the kernel walks them
 * in that order from its own head and stops at the first one that is not SEND_REQUEST.
 *
 * <p>One instance per event loop; not thread-safe. Nothing here allocates after construction.
 */
public final class TxRing implements AutoCloseable {
    /** Where the frame's data (the virtio header, when there is one, then the Ethernet frame) starts. */
    public static final long DATA = 32;
    /** {@code sizeof(struct virtio_net_hdr)}: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
    public static final int VNET_HDR = 10;
    /** An Ethernet header: destination, source, EtherType. */
    public static final int ETH_HEADER = 14;
    /** Frame size: the longest reply (IPv6 40 + TCP 60) plus Ethernet, the virtio and the frame header fit in 256. */
    public static final int FRAME_SIZE = 256;

    static final int STATUS_AVAILABLE = 0;
    static final int STATUS_SEND_REQUEST = 1;
    static final int STATUS_SENDING = 2;
    static final int STATUS_WRONG_FORMAT = 4;
    static final long FRAME_LEN = 4;

    private static final VarHandle STATUS = ValueLayout.JAVA_INT.varHandle();
    private static final int BLOCK_SIZE = 4096;

    private final int fd;
    private final int ifindex;
    private final MemorySegment mem;
    private final boolean mapped;
    private final int frameCount;
    private final int macHi;
    private final short macLo;
    /** Where the Ethernet header starts inside a frame: after the virtio header when the socket has one. */
    private final long eth;
    private int head;
    private int queued;
    private long refused;

    private TxRing(int fd, int ifindex, MemorySegment mem, boolean mapped, int frameCount, byte[] mac, boolean vnet) {
        if (mac.length != 6) {
            throw new IllegalArgumentException("an Ethernet address has 6 bytes, not " + mac.length);
        }
        this.fd = fd;
        this.ifindex = ifindex;
        this.mem = mem;
        this.mapped = mapped;
        this.frameCount = frameCount;
        this.macHi = (mac[0] & 0xff) << 24 | (mac[1] & 0xff) << 16 | (mac[2] & 0xff) << 8 | (mac[3] & 0xff);
        this.macLo = (short) ((mac[4] & 0xff) << 8 | (mac[5] & 0xff));
        this.eth = DATA + (vnet ? VNET_HDR : 0);
    }

    /**
     * Opens a TX ring of {@code frames} frames (rounded up to whole pages) on the Ethernet interface
     * {@code ifindex} whose address is {@code mac}. The socket is bound with protocol 0: it receives nothing.
     */
    public static TxRing open(int ifindex, byte[] mac, int frames) throws LinuxException {
        int perBlock = BLOCK_SIZE / FRAME_SIZE;
        int blocks = Math.max(1, (frames + perBlock - 1) / perBlock);
        int frameCount = blocks * perBlock;
        int fd = Native.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        try (Arena setup = Arena.ofConfined()) {
            Native.setsockopt(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
            // A frame the kernel cannot send is marked WRONG_FORMAT and skipped instead of stopping the ring.
            Native.setsockopt(fd, SOL_PACKET, PACKET_LOSS, 1, "PACKET_LOSS");
            Native.setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS");
            // Before the ring: the kernel refuses the option on a socket that has one.
            boolean vnet = true;
            try {
                Native.setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR");
            } catch (LinuxException e) {
                vnet = false;
            }
            MemorySegment req = setup.allocate(16, 4);
            req.set(ValueLayout.JAVA_INT, 0, BLOCK_SIZE);
            req.set(ValueLayout.JAVA_INT, 4, blocks);
            req.set(ValueLayout.JAVA_INT, 8, FRAME_SIZE);
            req.set(ValueLayout.JAVA_INT, 12, frameCount);
            Native.setsockopt(fd, SOL_PACKET, PACKET_TX_RING, req, "PACKET_TX_RING");
            MemorySegment ring = Native.mmap((long) BLOCK_SIZE * blocks, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
            try {
                Native.bind(fd, SockAddr.ll(setup, 0, ifindex));
                return new TxRing(fd, ifindex, ring, true, frameCount, mac, vnet);
            } catch (LinuxException | RuntimeException e) {
                Native.munmap(ring);
                throw e;
            }
        } catch (LinuxException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    /**
     * A ring over plain memory of {@code frameCount} frames, with no socket: {@link #flush()} sends nothing and
     * whoever plays the kernel sets the statuses back. For the micro-benchmark and tests of the frame logic.
     */
    public static TxRing inMemory(MemorySegment memory, int frameCount, byte[] mac) {
        return inMemory(memory, frameCount, mac, false);
    }

    /** {@link #inMemory(MemorySegment, int, byte[])}, laid out as with PACKET_VNET_HDR when {@code vnet}. */
    public static TxRing inMemory(MemorySegment memory, int frameCount, byte[] mac, boolean vnet) {
        if (memory.byteSize() < (long) frameCount * FRAME_SIZE) {
            throw new IllegalArgumentException("memory too small for " + frameCount + " frames");
        }
        return new TxRing(-1, 0, memory, false, frameCount, mac, vnet);
    }

    /**
     * Why replies on {@code nif} cannot use a TX ring, or null when they can: the ring writes Ethernet frames, so
     * the interface must be one (not loopback, tun, wireguard...), and it must be one interface, not all of them.
     */
    public static String unsuitable(NetworkInterface nif) {
        if (nif == null) {
            return "capture on every interface";
        }
        try {
            String type = Files.readString(Path.of("/sys/class/net", nif.getName(), "type")).trim();
            byte[] mac = nif.getHardwareAddress();
            if (!type.equals("1") || nif.isLoopback() || mac == null || mac.length != 6) {
                return nif.getName() + " has no Ethernet header";
            }
            return null;
        } catch (IOException e) {
            return "cannot read the link type of " + nif.getName();
        }
    }

    /** The interface the ring sends on. */
    public int ifindex() {
        return ifindex;
    }

    /** The mapped frames: {@link #claim()} offsets are into this segment. */
    public MemorySegment memory() {
        return mem;
    }

    /** Where the Ethernet header starts inside each frame. */
    public long ethOffset() {
        return eth;
    }

    /** Where the IP packet starts inside each frame: {@link #claim()} returns a frame's base plus this. */
    public long ipOffset() {
        return eth + ETH_HEADER;
    }

    public int frames() {
        return frameCount;
    }

    /** Frames queued since the last {@link #flush()}. */
    public int queued() {
        return queued;
    }

    /**
     * The offset in {@link #memory()} where the IP packet of the next frame goes, or -1 when that frame is still
     * the kernel's (the ring is full). A frame the kernel refused is taken back and counted
     * ({@link #takeRefused()}).
     */
    public long claim() {
        long base = (long) head * FRAME_SIZE;
        int status = (int) STATUS.getAcquire(mem, base);
        if ((status & (STATUS_SEND_REQUEST | STATUS_SENDING)) != 0) {
            return -1;
        }
        if (status == STATUS_WRONG_FORMAT) {
            refused++;
            mem.set(ValueLayout.JAVA_INT, base, STATUS_AVAILABLE);
        }
        return base + eth + ETH_HEADER;
    }

    /**
     * Queues the claimed frame holding an IP packet of {@code ipLength} bytes: writes the Ethernet header (to the
     * 6-byte address at {@code dstMacOffset} of {@code dstMac}, from ours) and hands the frame to the kernel.
     */
    public void commit(int ipLength, boolean ipv6, MemorySegment dstMac, long dstMacOffset) {
        long base = (long) head * FRAME_SIZE;
        long at = base + eth;
        MemorySegment.copy(dstMac, dstMacOffset, mem, at, 6);
        mem.set(Bits.NET_INT, at + 6, macHi);
        mem.set(Bits.NET_SHORT, at + 10, macLo);
        mem.set(Bits.NET_SHORT, at + 12, (short) (ipv6 ? ETH_P_IPV6 : ETH_P_IP));
        int frameLength = ETH_HEADER + ipLength;
        if (at != base + DATA) {
            // No offloads (flags and gso_type 0); hdr_len in the host's byte order (as the kernel reads it):
            // the whole frame goes into the buffer's head. The other fields are written too, in one store each, so
            // nothing of an earlier use of the frame can remain.
            mem.set(ValueLayout.JAVA_LONG, base + DATA, (long) frameLength << 16);
            mem.set(ValueLayout.JAVA_SHORT_UNALIGNED, base + DATA + 8, (short) 0);
        }
        mem.set(ValueLayout.JAVA_INT, base + FRAME_LEN, (int) (at - base - DATA) + frameLength);
        STATUS.setRelease(mem, base, STATUS_SEND_REQUEST);
        head = head + 1 == frameCount ? 0 : head + 1;
        queued++;
    }

    /**
     * One {@code send()}: the kernel transmits every queued frame before it returns. Returns false when the
     * kernel or driver refused one (counted in {@link #takeRefused()}); the frames after it stay queued for the
     * next flush.
     */
    public boolean flush() {
        if (queued == 0) {
            return true;
        }
        queued = 0;
        if (!mapped) {
            return true;
        }
        long rc = Native.flushTxRing(fd, MSG_DONTWAIT);
        if (rc < 0 && rc != -EAGAIN) {
            refused++;
            // The frames behind the refused one are still queued: the next flush sends them.
            queued = 1;
            return false;
        }
        return true;
    }

    /** Frames refused since the last call. */
    public long takeRefused() {
        long r = refused;
        refused = 0;
        return r;
    }

    @Override
    public void close() {
        if (mapped) {
            Native.close(fd);
            Native.munmap(mem);
        }
    }
}
