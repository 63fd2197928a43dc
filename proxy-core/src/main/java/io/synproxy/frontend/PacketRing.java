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
import static io.synproxy.linux.Constants.TPACKET_V3;

/**
 * An AF_PACKET socket with a TPACKET_V3 receive ring mapped into this process.
 *
 * <p>Block descriptor (struct tpacket_block_desc, offsets in bytes):
 * <pre>
 *  0 version | 4 offset_to_priv | 8 block_status | 12 num_pkts | 16 offset_to_first_pkt | 20 blk_len | 24 seq_num ...
 * </pre>
 * Packet header (struct tpacket3_hdr):
 * <pre>
 *  0 tp_next_offset | 4 tp_sec | 8 tp_nsec | 12 tp_snaplen | 16 tp_len | 20 tp_status | 24 tp_mac (u16) | 26 tp_net (u16)
 * </pre>
 * The socket is SOCK_DGRAM bound to ETH_P_IP, ETH_P_IPV6 or (both families) ETH_P_ALL, so frames start at the IP
 * header on every link type.
 * The filter is attached before bind so that nothing unfiltered is ever queued.
 */
public final class PacketRing implements AutoCloseable {
    static final int TP_STATUS_KERNEL = 0;
    static final int TP_STATUS_USER = 1;
    static final int TP_STATUS_LOSING = 4;
    static final int TP_STATUS_CSUMNOTREADY = 8;
    static final int TP_STATUS_CSUM_VALID = 0x80;

    static final long BLOCK_STATUS = 8;
    static final long BLOCK_NUM_PKTS = 12;
    static final long BLOCK_FIRST_PKT = 16;
    static final long PKT_NEXT = 0;
    static final long PKT_SNAPLEN = 12;
    static final long PKT_STATUS = 20;
    static final long PKT_NET = 26;

    private static final VarHandle STATUS = ValueLayout.JAVA_INT.varHandle();

    private final int fd;
    private final MemorySegment ring;
    private final int blockSize;
    private final int blockCount;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment stats = arena.allocate(12, 4);
    private int current;

    private PacketRing(int fd, MemorySegment ring, int blockSize, int blockCount) {
        this.fd = fd;
        this.ring = ring;
        this.blockSize = blockSize;
        this.blockCount = blockCount;
    }

    /**
     * Opens a ring on {@code ifindex} (0: every interface) that sees TCP to any of {@code listens}, IPv4 and IPv6
     * (a wildcard address matches every destination). Bound to ETH_P_IP or ETH_P_IPV6 when the listens are of one
     * family, to ETH_P_ALL with a filter that tells the families apart when both are protected.
     *
     * @param headersOnly keep the data segments (not SYNs, with payload) out of the ring; only for the zero-window
     *                    SYN/ACK, where no segment the front end acts on carries data
     * @param fanoutGroup the PACKET_FANOUT group id joining the rings of all loops, or -1 for none
     * @param retireMillis how long a partly filled block waits before it is handed to user space
     */
    public static PacketRing open(int ifindex, List<InetSocketAddress> listens, boolean headersOnly, int blockSize,
                                  int blockCount, int retireMillis, int fanoutGroup) throws LinuxException {
        boolean v4 = listens.stream().anyMatch(l -> l.getAddress() instanceof Inet4Address);
        boolean v6 = listens.stream().anyMatch(l -> !(l.getAddress() instanceof Inet4Address));
        int protocol = v4 && v6 ? ETH_P_ALL : v6 ? ETH_P_IPV6 : ETH_P_IP;
        try (Arena setup = Arena.ofConfined()) {
            return open(ifindex, protocol, Bpf.tcpToListens(setup, listens, headersOnly), blockSize, blockCount, retireMillis,
                    fanoutGroup);
        }
    }

    private static PacketRing open(int ifindex, int protocol, MemorySegment filter, int blockSize, int blockCount,
                                   int retireMillis, int fanoutGroup) throws LinuxException {
        int fd = Native.socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        try (Arena setup = Arena.ofConfined()) {
            Native.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, filter, "SO_ATTACH_FILTER");
            Native.setsockopt(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3, "PACKET_VERSION");
            Native.setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING");
            int frameSize = 2048;
            MemorySegment req = setup.allocate(28, 4);
            req.set(ValueLayout.JAVA_INT, 0, blockSize);
            req.set(ValueLayout.JAVA_INT, 4, blockCount);
            req.set(ValueLayout.JAVA_INT, 8, frameSize);
            req.set(ValueLayout.JAVA_INT, 12, (int) ((long) blockSize * blockCount / frameSize));
            req.set(ValueLayout.JAVA_INT, 16, retireMillis);
            req.set(ValueLayout.JAVA_INT, 20, 0);
            req.set(ValueLayout.JAVA_INT, 24, 0);
            Native.setsockopt(fd, SOL_PACKET, PACKET_RX_RING, req, "PACKET_RX_RING");
            MemorySegment ring = Native.mmap((long) blockSize * blockCount, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
            try {
                Native.bind(fd, SockAddr.ll(setup, protocol, ifindex));
                if (fanoutGroup >= 0) {
                    Native.setsockopt(fd, SOL_PACKET, PACKET_FANOUT, (fanoutGroup & 0xffff) | PACKET_FANOUT_HASH << 16,
                            "PACKET_FANOUT");
                }
            } catch (LinuxException e) {
                Native.munmap(ring);
                throw e;
            }
            return new PacketRing(fd, ring, blockSize, blockCount);
        } catch (LinuxException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    public int fd() {
        return fd;
    }

    public MemorySegment memory() {
        return ring;
    }

    /** Offset of the next block owned by user space, or -1 when the kernel still owns it. */
    long nextBlock() {
        long base = (long) current * blockSize;
        int status = (int) STATUS.getAcquire(ring, base + BLOCK_STATUS);
        return (status & TP_STATUS_USER) != 0 ? base : -1;
    }

    boolean blockLosing(long base) {
        return (ring.get(ValueLayout.JAVA_INT, base + BLOCK_STATUS) & TP_STATUS_LOSING) != 0;
    }

    /** Gives the block back to the kernel and moves on. */
    void releaseBlock(long base) {
        STATUS.setRelease(ring, base + BLOCK_STATUS, TP_STATUS_KERNEL);
        current = current + 1 == blockCount ? 0 : current + 1;
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

    @Override
    public void close() {
        Native.close(fd);
        Native.munmap(ring);
        arena.close();
    }
}
