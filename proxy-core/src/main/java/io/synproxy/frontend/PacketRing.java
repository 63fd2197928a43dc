package io.synproxy.frontend;

import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.util.List;

import static io.synproxy.linux.Constants.AF_PACKET;
import static io.synproxy.linux.Constants.ETH_P_ALL;
import static io.synproxy.linux.Constants.ETH_P_IP;
import static io.synproxy.linux.Constants.ETH_P_IPV6;
import static io.synproxy.linux.Constants.MAP_SHARED;
import static io.synproxy.linux.Constants.PACKET_FANOUT;
import static io.synproxy.linux.Constants.PACKET_FANOUT_FLAG_ROLLOVER;
import static io.synproxy.linux.Constants.PACKET_FANOUT_HASH;
import static io.synproxy.linux.Constants.PACKET_IGNORE_OUTGOING;
import static io.synproxy.linux.Constants.PACKET_RX_RING;
import static io.synproxy.linux.Constants.PACKET_STATISTICS;
import static io.synproxy.linux.Constants.PACKET_VERSION;
import static io.synproxy.linux.Constants.PROT_READ;
import static io.synproxy.linux.Constants.PROT_WRITE;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_DGRAM;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOL_PACKET;
import static io.synproxy.linux.Constants.SOL_SOCKET;
import static io.synproxy.linux.Constants.SO_ATTACH_FILTER;
import static io.synproxy.linux.Constants.TPACKET_V2;

/**
 * An AF_PACKET socket with a TPACKET_V2 receive ring mapped into this process: fixed-size frames, and
 * the kernel wakes the reader for every frame.
 *
 * <p>Why V2 and not V3: a V3 block reaches user space only when it is full or when its retire timer
 * (at least 1 ms) fires, and a handshake crosses the ring twice (SYN, final ACK), so V3 added about
 * 2 ms to every connection at low rates. Under a flood the reader is awake anyway and drains every
 * frame the kernel has filled per wake-up, so the per-frame wake-up costs little there.
 *
 * <p>Frame header (struct tpacket2_hdr, offsets in bytes):
 * <pre>
 *  0 tp_status | 4 tp_len | 8 tp_snaplen | 12 tp_mac (u16) | 14 tp_net (u16) | 16 tp_sec | 20 tp_nsec ...
 * </pre>
 * The sockaddr_ll that follows the header at offset 32 says how the frame was addressed at link level
 * ({@code sll_pkttype}) and on what kind of device it came in ({@code sll_hatype}).
 * The socket is SOCK_DGRAM bound to ETH_P_IP, ETH_P_IPV6 or (both families) ETH_P_ALL, so frames start at the IP
 * header on every link type. A packet longer than a frame holds is truncated by the kernel (the parser
 * then rejects it as truncated). The filter is attached before bind so that nothing unfiltered is ever queued.
 */
public final class PacketRing implements AutoCloseable {
    /**
     * Frame size when the filter passes headers only (zero-window mode): the IP header starts 80 bytes
     * into a frame, which leaves 176 bytes, more than the longest IPv4 + TCP header (120).
     */
    public static final int HEADER_FRAME_SIZE = 256;
    /** A ring is a whole number of blocks of this size, at least two: frames never straddle blocks. */
    public static final int BLOCK_BYTES = 1 << 16;
    /** Frame size when segments with payload reach user space: an Ethernet MTU of 1500 and then some. */
    public static final int FULL_FRAME_SIZE = 2048;

    /** Frame status: the checksum is not computed yet (offloaded, e.g. veth); nothing to verify. */
    public static final int TP_STATUS_CSUMNOTREADY = 8;
    /** Frame status: the kernel or the NIC already verified the checksum. */
    public static final int TP_STATUS_CSUM_VALID = 0x80;
    static final int TP_STATUS_KERNEL = 0;
    static final int TP_STATUS_USER = 1;
    static final int TP_STATUS_LOSING = 4;
    /**
     * A free frame taken away from the kernel by {@link #refuseFrames}: a bit the kernel never sets in tp_status,
     * without TP_STATUS_USER, so the reader never takes it for a packet.
     */
    static final int TP_STATUS_REFUSED = 1 << 27;

    static final long FRAME_STATUS = 0;
    /** tp_len: the packet's length; more than tp_snaplen when the frame could not hold it whole. */
    static final long FRAME_LEN = 4;
    static final long FRAME_SNAPLEN = 8;
    static final long FRAME_NET = 14;
    /** tp_sec and tp_nsec: when the kernel put the packet in the ring (CLOCK_REALTIME). */
    static final long FRAME_SEC = 16;
    static final long FRAME_NSEC = 20;
    /** An age beyond this is no wait but a clock that stepped, or a stamp from another clock: not reported. */
    static final long MAX_PLAUSIBLE_AGE_MILLIS = 3_600_000;
    /** The struct sockaddr_ll after the header: TPACKET_ALIGN(sizeof(struct tpacket2_hdr)). */
    static final long FRAME_LL = 32;
    /** sll_hatype (u16, host order): the device type, ARPHRD_*. */
    static final long LL_HATYPE = FRAME_LL + 8;
    /** sll_pkttype (u8): PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST. */
    static final long LL_PKTTYPE = FRAME_LL + 10;
    static final int PACKET_HOST = 0;
    static final int ARPHRD_LOOPBACK = 772;

    private static final VarHandle STATUS = ValueLayout.JAVA_INT.varHandle();

    private final int fd;
    private final MemorySegment ring;
    private final int frameSize;
    private final int frameCount;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment stats = arena.allocate(12, 4);
    private final int protocol;
    private final int ifindex;
    private final int fanoutGroup;
    private int current;
    private boolean closed;

    private PacketRing(int fd, MemorySegment ring, int frameSize, int frameCount, int protocol, int ifindex,
                       int fanoutGroup) {
        this.fd = fd;
        this.ring = ring;
        this.frameSize = frameSize;
        this.frameCount = frameCount;
        this.protocol = protocol;
        this.ifindex = ifindex;
        this.fanoutGroup = fanoutGroup;
    }

    /**
     * Opens a ring on {@code ifindex} (0: every interface) that sees TCP to any of {@code listens}, IPv4 and IPv6
     * (a wildcard address matches every destination). Bound to ETH_P_IP or ETH_P_IPV6 when the listens are of one
     * family, to ETH_P_ALL with a filter that tells the families apart when both are protected.
     *
     * @param headersOnly the filter drops non-SYN segments that carry payload, and frames are
     *                    {@link #HEADER_FRAME_SIZE} instead of {@link #FULL_FRAME_SIZE}
     * @param ringBytes   the ring's size; rounded down to whole 64 KiB blocks
     * @param fanoutGroup the PACKET_FANOUT group id joining the rings of all loops, or -1 for none
     */
    public static PacketRing open(int ifindex, List<InetSocketAddress> listens, boolean headersOnly, int ringBytes,
                                  int fanoutGroup) throws LinuxException {
        PacketRing ring = openIdle(ifindex, listens, headersOnly, ringBytes, fanoutGroup);
        try {
            ring.join();
        } catch (LinuxException e) {
            ring.close();
            throw e;
        }
        return ring;
    }

    /**
     * {@link #open}, but the ring captures nothing until {@link #join}: a second instance (upgrade in place)
     * joins the first one's fanout group only once it is warmed up and ready, so the kernel hashes no flow to
     * a ring that a cold process would serve late.
     */
    public static PacketRing openIdle(int ifindex, List<InetSocketAddress> listens, boolean headersOnly,
                                      int ringBytes, int fanoutGroup) throws LinuxException {
        return openIdle(ifindex, listens, headersOnly, ringBytes, fanoutGroup, Segments.ALL);
    }

    /** {@link #openIdle(int, List, boolean, int, int)} for {@code part} of the segments only. */
    public static PacketRing openIdle(int ifindex, List<InetSocketAddress> listens, boolean headersOnly,
                                      int ringBytes, int fanoutGroup, Segments part) throws LinuxException {
        return openIdle(ifindex, listens, headersOnly, ringBytes, fanoutGroup, part, false);
    }

    /**
     * {@link #openIdle(int, List, boolean, int, int, Segments)}; with {@code dropKernelOwned} the filter also drops
     * the IPv4 segments the tc program tagged as belonging to a connection this host's kernel holds
     * ({@link Bpf#KERNEL_OWNED_HASH}).
     */
    public static PacketRing openIdle(int ifindex, List<InetSocketAddress> listens, boolean headersOnly,
                                      int ringBytes, int fanoutGroup, Segments part, boolean dropKernelOwned)
            throws LinuxException {
        boolean v4 = listens.stream().anyMatch(l -> l.getAddress() instanceof Inet4Address);
        boolean v6 = listens.stream().anyMatch(l -> !(l.getAddress() instanceof Inet4Address));
        int protocol = v4 && v6 ? ETH_P_ALL : v6 ? ETH_P_IPV6 : ETH_P_IP;
        try (Arena setup = Arena.ofConfined()) {
            return open(ifindex, protocol, Bpf.tcpToListens(setup, listens, headersOnly, part, dropKernelOwned),
                    headersOnly ? HEADER_FRAME_SIZE : FULL_FRAME_SIZE, ringBytes, fanoutGroup);
        }
    }

    private static PacketRing open(int ifindex, int protocol, MemorySegment filter, int frameSize, int ringBytes,
                                   int fanoutGroup) throws LinuxException {
        // Frames never straddle blocks: a block is a whole number of frames.
        int blockSize = BLOCK_BYTES;
        int blockCount = Math.max(2, ringBytes / blockSize);
        int frameCount = blockSize / frameSize * blockCount;
        int fd = Native.socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        try (Arena setup = Arena.ofConfined()) {
            Native.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, filter, "SO_ATTACH_FILTER");
            Native.setsockopt(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
            Native.setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING");
            MemorySegment req = setup.allocate(16, 4);
            req.set(ValueLayout.JAVA_INT, 0, blockSize);
            req.set(ValueLayout.JAVA_INT, 4, blockCount);
            req.set(ValueLayout.JAVA_INT, 8, frameSize);
            req.set(ValueLayout.JAVA_INT, 12, frameCount);
            Native.setsockopt(fd, SOL_PACKET, PACKET_RX_RING, req, "PACKET_RX_RING");
            MemorySegment ring = Native.mmap((long) blockSize * blockCount, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
            // Created with protocol 0, the socket receives nothing until join() binds it.
            return new PacketRing(fd, ring, frameSize, frameCount, protocol, ifindex, fanoutGroup);
        } catch (LinuxException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    /**
     * A ring over plain memory, with no socket: whoever plays the kernel writes the frames and marks them
     * {@link #TP_STATUS_USER}. For the start-up warm-up ({@link FrontendWarmup}); never {@link #join} nor
     * {@link #close} it: the memory is the caller's.
     */
    static PacketRing inMemory(MemorySegment memory, int frameSize, int frameCount) {
        if (memory.byteSize() < (long) frameSize * frameCount) {
            throw new IllegalArgumentException("memory too small for " + frameCount + " frames");
        }
        return new PacketRing(-1, memory, frameSize, frameCount, 0, 0, -1);
    }

    /**
     * Starts capturing: binds the socket to its protocol and interface, then joins the fanout group (the kernel
     * adds a ring to a group only once it is bound). EINVAL from PACKET_FANOUT: the group has another mode,
     * protocol or device.
     *
     * <p>The group hashes flows and rolls over: a frame whose ring has no room goes to another ring of the group
     * rather than being dropped. That is what lets a ring leave without losing a frame ({@link #refuseFrames}),
     * and under a flood a full ring's overflow is answered by the others.
     */
    public void join() throws LinuxException {
        try (Arena setup = Arena.ofConfined()) {
            Native.bind(fd, SockAddr.ll(setup, protocol, ifindex));
        }
        if (fanoutGroup >= 0) {
            Native.setsockopt(fd, SOL_PACKET, PACKET_FANOUT, (fanoutGroup & 0xffff) | (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_ROLLOVER) << 16,
                    "PACKET_FANOUT");
        }
    }

    public int fd() {
        return fd;
    }

    public MemorySegment memory() {
        return ring;
    }

    /** Frames in the ring. */
    public int frames() {
        return frameCount;
    }

    /** Offset of the next frame owned by user space, or -1 when the kernel still owns it. */
    long nextFrame() {
        long base = (long) current * frameSize;
        int status = (int) STATUS.getAcquire(ring, base + FRAME_STATUS);
        return (status & TP_STATUS_USER) != 0 ? base : -1;
    }

    /**
     * Offset of the frame {@code ahead} places after the next one when user space owns it already, or -1. A hint for
     * reading ahead only: the frame is not taken, and it is read again through {@link #nextFrame} when its turn comes.
     */
    long frameAhead(int ahead) {
        int i = current + ahead;
        if (i >= frameCount) {
            i -= frameCount;
        }
        long base = (long) i * frameSize;
        int status = (int) STATUS.getAcquire(ring, base + FRAME_STATUS);
        return (status & TP_STATUS_USER) != 0 ? base : -1;
    }

    /** The frame's tp_status as the kernel wrote it (USER, LOSING, checksum flags). */
    int status(long frame) {
        return ring.get(ValueLayout.JAVA_INT, frame + FRAME_STATUS);
    }

    /**
     * How long the frame has been in the ring at wall-clock time {@code nowMillis}, in milliseconds: its tp_sec and
     * tp_nsec (unsigned) against that time; 0 if the clock went back a little, -1 when the difference is beyond
     * {@link #MAX_PLAUSIBLE_AGE_MILLIS} either way.
     */
    long ageMillis(long frame, long nowMillis) {
        long sec = Integer.toUnsignedLong(ring.get(ValueLayout.JAVA_INT, frame + FRAME_SEC));
        long nsec = Integer.toUnsignedLong(ring.get(ValueLayout.JAVA_INT, frame + FRAME_NSEC));
        long age = nowMillis - (sec * 1000 + nsec / 1_000_000);
        return Math.abs(age) > MAX_PLAUSIBLE_AGE_MILLIS ? -1 : Math.max(0, age);
    }

    /**
     * Whether the frame was addressed to this host at link level (PACKET_HOST), not to another host's MAC, a
     * broadcast or a multicast address: the kernel's TCP drops the others (the capture filter already does).
     */
    boolean forThisHost(long frame) {
        return isForThisHost(ring.get(ValueLayout.JAVA_BYTE, frame + LL_PKTTYPE) & 0xff);
    }

    static boolean isForThisHost(int packetType) {
        return packetType == PACKET_HOST;
    }

    /** Whether the frame came in on a loopback device: sent by this host to itself. */
    boolean fromLoopback(long frame) {
        return Short.toUnsignedInt(ring.get(ValueLayout.JAVA_SHORT, frame + LL_HATYPE)) == ARPHRD_LOOPBACK;
    }

    /** Gives the frame back to the kernel and moves on. */
    void releaseFrame(long frame) {
        STATUS.setRelease(ring, frame + FRAME_STATUS, TP_STATUS_KERNEL);
        current = current + 1 == frameCount ? 0 : current + 1;
    }

    /** Frames the kernel dropped for lack of ring space since the last call (the kernel resets its count). */
    long takeDrops() {
        try {
            Native.getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, stats, "PACKET_STATISTICS");
            return stats.get(ValueLayout.JAVA_INT, 4) & 0xffffffffL;
        } catch (LinuxException e) {
            return 0;
        }
    }

    /**
     * Leaving a shared capture without losing a frame: marks every frame the kernel owns as taken, so the ring has
     * no room and the group's rollover sends every new frame to the other rings. Closing the socket is no way
     * to leave: the kernel takes the ring out of the group only when the mapping goes, and unmapping a ring takes
     * tens of milliseconds, during which frames still land in it and are lost (seen in the upgrade test). Frames
     * the kernel had already claimed when this ran are still filled and marked as user frames: read the ring
     * after a moment, then close it at leisure. Loop thread.
     */
    public void refuseFrames() {
        // Farthest from the read position first. The kernel keeps a frame for itself only while the frame a quarter
        // of the ring ahead of its next one is free (otherwise it rolls over), and drops it when its next frame is
        // taken: refusing the next frames last means it never sees the one refused and the other free.
        for (int k = frameCount - 1; k >= 0; k--) {
            long base = (long) ((current + k) % frameCount) * frameSize + FRAME_STATUS;
            STATUS.compareAndSet(ring, base, TP_STATUS_KERNEL, TP_STATUS_REFUSED);
        }
    }

    /**
     * Frames the kernel has filled and user space not yet taken, from the current position on: what closing the
     * ring now would lose. Loop thread.
     */
    public int pendingFrames() {
        int pending = 0;
        for (int i = 0; i < frameCount; i++) {
            long base = (long) ((current + i) % frameCount) * frameSize;
            if (((int) STATUS.getAcquire(ring, base + FRAME_STATUS) & TP_STATUS_USER) == 0) {
                break;
            }
            pending++;
        }
        return pending;
    }

    /**
     * Closes the socket and unmaps the ring; only then does the kernel take the socket out of its fanout group
     * (the mapping holds the socket). Idempotent: a ring left early (upgrade in place) is closed again at shutdown.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Native.close(fd);
        Native.munmap(ring);
        arena.close();
    }
}
