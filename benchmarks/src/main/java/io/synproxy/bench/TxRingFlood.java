package io.synproxy.bench;

import io.synproxy.linux.Constants;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * A spoofed SYN (or ACK) flood written straight into an AF_PACKET TPACKET_V2 TX ring: frames are built
 * in the mapped ring, flagged TP_STATUS_SEND_REQUEST, and one {@code sendto(fd, NULL, 0)} hands a whole
 * batch to the driver. PACKET_QDISC_BYPASS skips the qdisc, as trafgen does.
 *
 * <p>Each SYN has a random source address (outside 10/8, 127/8 and multicast), source port, ISN and
 * TSval, and carries what a Linux client sends: MSS 1460, SACK-permitted, timestamps, window scale 7,
 * window 64240, with both checksums correct. An ACK flood sends ACKs with random sequence and
 * acknowledgement numbers, i.e. random cookies. Pacing is by the clock: at a target rate the sender
 * keeps up with {@code rate * elapsed} packets in slices of about 1 ms (one syscall each), without
 * bursting more than 10 ms of traffic after a stall; with rate 0 it sends as fast as the ring drains.
 * What it really sent is {@link #sent()}: callers report that, not the target.
 *
 * <p>tpacket2_hdr: 0 tp_status, 4 tp_len, 8 tp_snaplen, 12 tp_mac, 14 tp_net, ...; without
 * PACKET_TX_HAS_OFF the frame data starts at TPACKET2_HDRLEN - sizeof(sockaddr_ll) = 32.
 */
final class TxRingFlood implements AutoCloseable, Flood {
    static final int SOL_PACKET = Constants.SOL_PACKET;
    static final int PACKET_VERSION = Constants.PACKET_VERSION;
    static final int PACKET_TX_RING = 13;
    static final int PACKET_LOSS = 14;
    static final int PACKET_QDISC_BYPASS = 20;
    static final int TPACKET_V2 = 1;
    static final int TP_STATUS_AVAILABLE = 0;
    static final int TP_STATUS_SEND_REQUEST = 1;
    static final int TP_STATUS_WRONG_FORMAT = 4;
    static final int MSG_DONTWAIT = 0x40;
    static final int ETH_P_ALL = 0x0003;

    static final int FRAME_SIZE = 128;
    static final int BLOCK_SIZE = 1 << 16;
    static final int BLOCKS = 64;
    static final int FRAMES = BLOCK_SIZE / FRAME_SIZE * BLOCKS;
    static final int DATA_OFFSET = 32;

    private static final VarHandle STATUS = ValueLayout.JAVA_INT.varHandle();

    enum Kind { SYN, ACK }

    private final int fd;
    private final MemorySegment ring;
    private final Arena arena = Arena.ofShared();
    private final FloodFrames frames;
    private final LongAdder sent = new LongAdder();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private int next;
    private int wrongFormat;

    /** Opens the ring on {@code ifname}; the calling thread must already be in the attacker's namespace. */
    TxRingFlood(String ifname, String srcMac, String dstMac, String dstIp, int dstPort, Kind kind) throws LinuxException {
        this.frames = new FloodFrames(parseMac(srcMac), parseMac(dstMac), ipv4(dstIp), dstPort, kind,
                new SplittableRandom());
        int ifindex = Native.interfaceIndex(ifname);
        if (ifindex <= 0) {
            throw new IllegalArgumentException("no interface " + ifname);
        }
        fd = Native.socket(Constants.AF_PACKET, Constants.SOCK_RAW | Constants.SOCK_CLOEXEC, 0);
        try {
            Native.setsockopt(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
            Native.setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS");
            Native.setsockopt(fd, SOL_PACKET, PACKET_LOSS, 1, "PACKET_LOSS");
            MemorySegment req = arena.allocate(16, 4);
            req.set(ValueLayout.JAVA_INT, 0, BLOCK_SIZE);
            req.set(ValueLayout.JAVA_INT, 4, BLOCKS);
            req.set(ValueLayout.JAVA_INT, 8, FRAME_SIZE);
            req.set(ValueLayout.JAVA_INT, 12, FRAMES);
            Native.setsockopt(fd, SOL_PACKET, PACKET_TX_RING, req, "PACKET_TX_RING");
            ring = Native.mmap((long) BLOCK_SIZE * BLOCKS, Constants.PROT_READ | Constants.PROT_WRITE,
                    Constants.MAP_SHARED, fd);
            // Protocol 0 on the socket: we only send, nothing is queued for us to read.
            Native.bind(fd, SockAddr.ll(arena, 0, ifindex));
        } catch (LinuxException | RuntimeException e) {
            Native.close(fd);
            arena.close();
            throw e;
        }
    }

    /** Packets handed to the driver so far. */
    @Override
    public long sent() {
        return sent.sum();
    }

    @Override
    public void stop() {
        running.set(false);
    }

    /**
     * Sends until {@link #stop()}: {@code ratePps} packets per second, or as fast as possible when 0.
     * Runs on the calling thread.
     */
    void run(long ratePps) {
        long start = System.nanoTime();
        long queued = 0;
        int pending = 0;
        final int batch = 256;
        while (running.get()) {
            long allowed;
            if (ratePps > 0) {
                long due = (System.nanoTime() - start) * ratePps / 1_000_000_000L;
                // After a stall (the generator shares the CPUs) do not burst to catch up: forgive debt beyond 10 ms.
                queued = Math.max(queued, due - Math.max(1, ratePps / 100));
                allowed = due - queued;
                // Work in slices of about 1 ms of traffic (at least one packet): one syscall per slice.
                long slice = Math.max(1, Math.min(batch, ratePps / 1000));
                if (allowed < slice) {
                    if (pending > 0) {
                        flush();
                        sent.add(pending);
                        pending = 0;
                    }
                    long aheadNanos = (slice - allowed) * 1_000_000_000L / ratePps;
                    if (aheadNanos > 20_000) {
                        LockSupport.parkNanos(aheadNanos);
                    } else {
                        Thread.onSpinWait();
                    }
                    continue;
                }
                allowed = Math.min(allowed, batch);
            } else {
                allowed = batch;
            }
            int filled = 0;
            for (; filled < allowed; filled++) {
                long frame = (long) next * FRAME_SIZE;
                int status = (int) STATUS.getAcquire(ring, frame);
                if (status != TP_STATUS_AVAILABLE) {
                    if ((status & TP_STATUS_WRONG_FORMAT) != 0) {
                        wrongFormat++;
                        STATUS.setRelease(ring, frame, TP_STATUS_AVAILABLE);
                    }
                    break; // the ring is full: let the kernel drain it
                }
                int len = writeFrame(frame + DATA_OFFSET);
                ring.set(ValueLayout.JAVA_INT, frame + 4, len);
                STATUS.setRelease(ring, frame, TP_STATUS_SEND_REQUEST);
                next = next + 1 == FRAMES ? 0 : next + 1;
            }
            queued += filled;
            pending += filled;
            if (pending >= batch || filled < allowed) {
                flush();
                sent.add(pending);
                pending = 0;
            }
        }
        flush();
        sent.add(pending);
    }

    /** Frames the kernel refused as malformed (should stay 0). */
    @Override
    public long wrongFormat() {
        return wrongFormat;
    }

    private void flush() {
        // Blocking send: returns once the kernel has taken every frame flagged so far.
        Native.sendto(fd, MemorySegment.NULL, 0, 0, MemorySegment.NULL);
    }

    private int writeFrame(long off) {
        return frames.write(ring, off);
    }

    static int ipv4(String dotted) {
        String[] p = dotted.split("\\.");
        return Integer.parseInt(p[0]) << 24 | Integer.parseInt(p[1]) << 16 | Integer.parseInt(p[2]) << 8
                | Integer.parseInt(p[3]);
    }

    static byte[] parseMac(String mac) {
        String[] p = mac.split(":");
        byte[] b = new byte[6];
        for (int i = 0; i < 6; i++) {
            b[i] = (byte) Integer.parseInt(p[i], 16);
        }
        return b;
    }

    @Override
    public void close() {
        Native.munmap(ring);
        Native.close(fd);
        arena.close();
    }
}
