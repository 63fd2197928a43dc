package io.synproxy.handoff;

import io.synproxy.handshake.AckVerdict;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;
import io.synproxy.linux.SocketDiag;
import io.synproxy.linux.Uring;
import io.synproxy.packet.TcpSegment;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.synproxy.linux.Constants.AF_INET;
import static io.synproxy.linux.Constants.AF_INET6;
import static io.synproxy.linux.Constants.EADDRNOTAVAIL;
import static io.synproxy.linux.Constants.IPPROTO_TCP;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOCK_STREAM;
import static io.synproxy.linux.Constants.SOL_SOCKET;
import static io.synproxy.linux.Constants.SO_REUSEADDR;
import static io.synproxy.linux.Constants.TCPOPT_MSS;
import static io.synproxy.linux.Constants.TCPOPT_SACK_PERM;
import static io.synproxy.linux.Constants.TCPOPT_TIMESTAMP;
import static io.synproxy.linux.Constants.TCPOPT_WINDOW;
import static io.synproxy.linux.Constants.TCP_INFO;
import static io.synproxy.linux.Constants.TCP_INFO_BYTES_RECEIVED;
import static io.synproxy.linux.Constants.TCP_MAXSEG;
import static io.synproxy.linux.Constants.TCP_NODELAY;
import static io.synproxy.linux.Constants.TCP_QUEUE_SEQ;
import static io.synproxy.linux.Constants.TCP_RECV_QUEUE;
import static io.synproxy.linux.Constants.TCP_REPAIR;
import static io.synproxy.linux.Constants.TCP_REPAIR_OFF_NO_WP;
import static io.synproxy.linux.Constants.TCP_REPAIR_OPTIONS;
import static io.synproxy.linux.Constants.TCP_REPAIR_QUEUE;
import static io.synproxy.linux.Constants.TCP_REPAIR_WINDOW;
import static io.synproxy.linux.Constants.TCP_SEND_QUEUE;
import static io.synproxy.linux.Constants.TCP_TIMESTAMP;

/**
 * Turns a verdict into an ESTABLISHED kernel socket with TCP_REPAIR, in the order proven in
 * docs/ARCHITECTURE.md: SO_REUSEADDR before repair mode, both queue sequence numbers, MSS before
 * connect, bind + connect (silent in repair mode), the negotiated options (window scaling is
 * essential: without it the socket scales while the client does not), the timestamp clock,
 * data that rode on the final ACK, the client's window, then repair off without a window probe.
 *
 * <p>IPv6 follows the same order on an AF_INET6 socket bound to the address the SYN was sent to; the kernel
 * applies the IPv6 defaults (hop limit, traffic class) as for any socket it accepted itself.
 *
 * <p>One instance per event-loop thread: its native scratch memory is reused for every handoff.
 */
public final class RepairHandoff implements Handoff, AutoCloseable {
    private static final int REPAIR_WINDOW_SIZE = 20;
    /** The kernel's TCP_MIN_MSS: the smallest value TCP_MAXSEG accepts. */
    private static final int TCP_MIN_MSS = 88;
    /** The longest chain: 20 entries with data on the final ACK. */
    private static final int CHAIN_ENTRIES = 32;
    private static final int ECANCELED = 125;
    private static final int EINVAL = 22;
    private static final int WINDOWS = 8;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment local = SockAddr.allocateIn(arena);
    private final MemorySegment remote = SockAddr.allocateIn(arena);
    private final MemorySegment local6 = SockAddr.allocateIn6(arena);
    private final MemorySegment remote6 = SockAddr.allocateIn6(arena);
    private final MemorySegment options = arena.allocate(4 * 8, 4);
    private final MemorySegment window = arena.allocate(REPAIR_WINDOW_SIZE, 4);
    private final MemorySegment u32 = arena.allocate(4, 4);
    /** struct tcp_info up to and with tcpi_bytes_received: the kernel copies no more than asked. */
    private final MemorySegment tcpInfo = arena.allocate(TCP_INFO_BYTES_RECEIVED + 8, 8);
    private int lastReceiveWindow;
    /** Receive windows connect() chose, by {@link #windowKey}; 0 where none is known. */
    private final int[] windowKeys = new int[WINDOWS];
    private final int[] windowValues = new int[WINDOWS];
    private int nextWindow;
    /** The chain's option values: each entry reads its own when the chain runs. */
    private final MemorySegment one = intValue(1);
    private final MemorySegment sendQueue = intValue(TCP_SEND_QUEUE);
    private final MemorySegment recvQueue = intValue(TCP_RECV_QUEUE);
    private final MemorySegment repairOff = intValue(TCP_REPAIR_OFF_NO_WP);
    private final MemorySegment v0 = intValue(0);
    private final MemorySegment v1 = intValue(0);
    private final MemorySegment v2 = intValue(0);
    private final MemorySegment v3 = intValue(0);
    private final MemorySegment chainWindow = arena.allocate(REPAIR_WINDOW_SIZE, 4);
    /** Null where io_uring cannot be used (see {@link #uringAbsent}) or is turned off. */
    private Uring uring;
    private String uringAbsent;
    private long chainedHandoffs;
    /** Opened at the first question (most loops never ask one); null until then, or when the kernel has none. */
    private SocketDiag diag;
    private boolean diagUnavailable;
    /**
     * With an io_uring unless {@code -Dsynproxy.uring=false} or the kernel refuses one (a container's seccomp
     * profile, an old kernel).
     */
    public RepairHandoff() {
        this(Uring.wanted());
    }

    /** @param useUring try io_uring for the handoff's calls */
    public RepairHandoff(boolean useUring) {
        if (!useUring) {
            uringAbsent = "io_uring turned off with -D" + Uring.PROPERTY + "=false";
            return;
        }
        try {
            uring = Uring.open(CHAIN_ENTRIES, arena.allocate(128, 8));
        } catch (LinuxException e) {
            uringAbsent = "no io_uring: " + e.getMessage();
        }
    }


    /**
     * Through the io_uring when it has one and the receive window connect() will choose is known (learned from the
     * calls path: a function of the MSS, the family and the host's settings); the calls one by one otherwise, or when
     * the chain failed.
     */
    @Override
    public int handoff(AckVerdict v, MemorySegment payload) throws LinuxException {
        if (uring != null) {
            int receiveWindow = knownWindow(windowKey(v));
            if (receiveWindow > 0) {
                int fd = chained(v, payload, receiveWindow);
                if (fd >= 0) {
                    return fd;
                }
                int failed = -fd;
                fd = calls(v, payload);
                if (failed != EADDRNOTAVAIL) {
                    // The calls did what the chain could not: this kernel's io_uring lacks something (an operation of a
                    // newer release). Stay with the calls.
                    uringUnusable("a handoff through it failed: " + Native.strerror(failed));
                }
                return fd;
            }
        }
        return calls(v, payload);
    }

    /** The handoff one call at a time (docs/ARCHITECTURE.md's order); learns the receive window for the io_uring. */
    private int calls(AckVerdict v, MemorySegment payload) throws LinuxException {
        boolean ipv6 = v.ipv6();
        int fd = Native.socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        try {
            // Before TCP_REPAIR: afterwards it overwrites the force-reuse flag (EADDRINUSE from the second connection on).
            Native.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
            Native.setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, 1, "TCP_REPAIR");
            Native.setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE");
            setU32(fd, TCP_QUEUE_SEQ, v.isn() + 1, "TCP_QUEUE_SEQ send");
            Native.setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE");
            setU32(fd, TCP_QUEUE_SEQ, v.clientIsn() + 1, "TCP_QUEUE_SEQ recv");
            // Before connect, or the socket falls back to 536-byte segments. TCP_MAXSEG refuses less than
            // TCP_MIN_MSS, so a client below 88 gets 88-byte segments: TCPOPT_MSS below sets the exact value,
            // but connect() has already sized the segments from this one.
            Native.setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, Math.max(v.mss(), TCP_MIN_MSS), "TCP_MAXSEG");
            MemorySegment client;
            if (ipv6) {
                Native.bind(fd, SockAddr.in6(local6, v.localHi(), v.localLo(), v.localPort()));
                client = SockAddr.in6(remote6, v.clientHi(), v.clientLo(), v.clientPort());
            } else {
                Native.bind(fd, SockAddr.in(local, v.localAddress(), v.localPort()));
                client = SockAddr.in(remote, v.clientAddress(), v.clientPort());
            }
            try {
                Native.connect(fd, client);
            } catch (LinuxException e) {
                // A client that reuses its port within 60 s of a connection we closed first meets that connection's
                // TIME_WAIT: connect() takes the tuple over only if the TIME_WAIT recorded timestamps. Otherwise
                // remove it (the new handshake is proven) and connect again.
                if (e.errno() != EADDRNOTAVAIL || !destroyTimeWait(v)) {
                    throw e;
                }
                Native.connect(fd, client);
            }

            Native.setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, options.asSlice(0, repairOptions(v) * 8L),
                    "TCP_REPAIR_OPTIONS");
            if (v.timestamps()) {
                // Continue the TSval clock from the value the client echoed (even: millisecond clock).
                Native.setsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, v.ourTsVal() & ~1, "TCP_TIMESTAMP");
            }
            if (v.payloadLength() > 0) {
                Native.setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE");
                Native.send(fd, payload.asSlice(v.payloadOffset(), v.payloadLength()), v.payloadLength(), 0);
            }

            // Without the client's window the socket believes the peer window is 0 and stalls in persist.
            Native.getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, window, "TCP_REPAIR_WINDOW");
            int peer = peerWindow(v);
            window.set(ValueLayout.JAVA_INT, 0, v.clientNextSeq());
            window.set(ValueLayout.JAVA_INT, 4, peer);
            window.set(ValueLayout.JAVA_INT, 8, peer);
            lastReceiveWindow = window.get(ValueLayout.JAVA_INT, 12);
            if (uring != null && window.get(ValueLayout.JAVA_INT, 16) == v.clientIsn() + 1) {
                // rcv_wup is the sequence the repair queue was given, as the chain will assume.
                learnWindow(windowKey(v), lastReceiveWindow);
            }
            Native.setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, window, "TCP_REPAIR_WINDOW");

            // NO_WP: the kernel's window probe would be one below the client's rcv_nxt and be ignored.
            Native.setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP, "TCP_REPAIR off");
            // Leaving repair mode resets sk_reuse to "no reuse", and TIME_WAIT inherits it: without this a restart
            // within 60 s of the last close could not bind the port (even with SO_REUSEADDR), as no server's could.
            Native.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR after repair");
            // The relay's channel would set it as its first call; in the chain it costs no system call of its own.
            Native.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
            return fd;
        } catch (LinuxException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    /**
     * The calls of {@link #calls} as one io_uring chain, the window set from {@code receiveWindow} instead of read
     * first. Returns the descriptor, or {@code -errno} of the first call that failed (the slot emptied).
     */
    private int chained(AckVerdict v, MemorySegment payload, int receiveWindow) {
        Uring u = uring;
        v0.set(ValueLayout.JAVA_INT, 0, v.isn() + 1);
        v1.set(ValueLayout.JAVA_INT, 0, v.clientIsn() + 1);
        v2.set(ValueLayout.JAVA_INT, 0, Math.max(v.mss(), TCP_MIN_MSS));
        boolean ipv6 = v.ipv6();
        u.socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        u.setsockopt(SOL_SOCKET, SO_REUSEADDR, one);
        u.setsockopt(IPPROTO_TCP, TCP_REPAIR, one);
        u.setsockopt(IPPROTO_TCP, TCP_REPAIR_QUEUE, sendQueue);
        u.setsockopt(IPPROTO_TCP, TCP_QUEUE_SEQ, v0);
        u.setsockopt(IPPROTO_TCP, TCP_REPAIR_QUEUE, recvQueue);
        u.setsockopt(IPPROTO_TCP, TCP_QUEUE_SEQ, v1);
        u.setsockopt(IPPROTO_TCP, TCP_MAXSEG, v2);
        if (ipv6) {
            u.address(Uring.OP_BIND, SockAddr.in6(local6, v.localHi(), v.localLo(), v.localPort()));
            u.address(Uring.OP_CONNECT, SockAddr.in6(remote6, v.clientHi(), v.clientLo(), v.clientPort()));
        } else {
            u.address(Uring.OP_BIND, SockAddr.in(local, v.localAddress(), v.localPort()));
            u.address(Uring.OP_CONNECT, SockAddr.in(remote, v.clientAddress(), v.clientPort()));
        }
        u.setsockopt(IPPROTO_TCP, TCP_REPAIR_OPTIONS, options.asSlice(0, repairOptions(v) * 8L));
        if (v.timestamps()) {
            v3.set(ValueLayout.JAVA_INT, 0, v.ourTsVal() & ~1);
            u.setsockopt(IPPROTO_TCP, TCP_TIMESTAMP, v3);
        }
        if (v.payloadLength() > 0) {
            u.setsockopt(IPPROTO_TCP, TCP_REPAIR_QUEUE, recvQueue);
            u.send(payload.asSlice(v.payloadOffset(), v.payloadLength()));
        }
        int peer = peerWindow(v);
        chainWindow.set(ValueLayout.JAVA_INT, 0, v.clientNextSeq());
        chainWindow.set(ValueLayout.JAVA_INT, 4, peer);
        chainWindow.set(ValueLayout.JAVA_INT, 8, peer);
        chainWindow.set(ValueLayout.JAVA_INT, 12, receiveWindow);
        chainWindow.set(ValueLayout.JAVA_INT, 16, v.clientIsn() + 1);
        u.setsockopt(IPPROTO_TCP, TCP_REPAIR_WINDOW, chainWindow);
        u.setsockopt(IPPROTO_TCP, TCP_REPAIR, repairOff);
        u.setsockopt(SOL_SOCKET, SO_REUSEADDR, one);
        u.setsockopt(IPPROTO_TCP, TCP_NODELAY, one);
        int install = u.queued();
        u.install();
        u.closeSlot();
        int entries = u.queued();
        int rc = u.submit();
        if (rc < 0) {
            uringUnusable("io_uring_enter failed: " + Native.strerror(-rc));
            return rc;
        }
        int fd = u.result(install);
        if (fd >= 0) {
            lastReceiveWindow = receiveWindow;
            chainedHandoffs++;
            return fd;
        }
        int errno = EINVAL;
        for (int i = 0; i < entries; i++) {
            int r = u.result(i);
            if (r < 0 && r != -ECANCELED) {
                errno = -r;
                break;
            }
        }
        // The chain stopped before the socket left the slot: empty it (the socket closes, silently in repair mode).
        u.closeSlot();
        u.submit();
        return -errno;
    }

    private static int windowKey(AckVerdict v) {
        return v.mss() | (v.ipv6() ? 1 << 16 : 0);
    }

    private int knownWindow(int key) {
        for (int i = 0; i < WINDOWS; i++) {
            if (windowKeys[i] == key) {
                return windowValues[i];
            }
        }
        return 0;
    }

    private void learnWindow(int key, int value) {
        for (int i = 0; i < WINDOWS; i++) {
            if (windowKeys[i] == key) {
                windowValues[i] = value;
                return;
            }
        }
        windowKeys[nextWindow] = key;
        windowValues[nextWindow] = value;
        nextWindow = (nextWindow + 1) % WINDOWS;
    }

    private void uringUnusable(String why) {
        if (uring != null) {
            uring.close();
            uring = null;
            uringAbsent = why;
        }
    }

    /** Handoffs made through the io_uring so far. */
    public long chainedHandoffs() {
        return chainedHandoffs;
    }

    /** How handoffs are made here: through io_uring, or the calls one by one and why. */
    public String path() {
        return uring != null ? "handoff through io_uring (one system call)"
                : "handoff one system call at a time (" + uringAbsent + ")";
    }

    private MemorySegment intValue(int value) {
        MemorySegment s = arena.allocate(4, 4);
        s.set(ValueLayout.JAVA_INT, 0, value);
        return s;
    }

    @Override
    public int lastReceiveWindow() {
        return lastReceiveWindow;
    }

    @Override
    public long bytesReceived(int fd) {
        try {
            int written = Native.getsockopt(fd, IPPROTO_TCP, TCP_INFO, tcpInfo, "TCP_INFO");
            return written >= TCP_INFO_BYTES_RECEIVED + 8 ? tcpInfo.get(ValueLayout.JAVA_LONG, TCP_INFO_BYTES_RECEIVED)
                    : -1;
        } catch (LinuxException e) {
            return -1;
        }
    }

    /** The negotiated options into {@link #options}; returns how many. */
    private int repairOptions(AckVerdict v) {
        int n = 0;
        n = option(n, TCPOPT_MSS, v.mss());
        if (v.clientWscale() >= 0) {
            n = option(n, TCPOPT_WINDOW, v.clientWscale() | v.ourWscale() << 16);
        } else {
            // No scaling: say so with two zero shifts. Without the option the socket keeps the receive
            // shift connect() chose from tcp_rmem and advertises window >> shift (64 KB became 63 bytes).
            n = option(n, TCPOPT_WINDOW, 0);
        }
        if (v.sack()) {
            n = option(n, TCPOPT_SACK_PERM, 0);
        }
        if (v.timestamps()) {
            n = option(n, TCPOPT_TIMESTAMP, 0);
        }
        return n;
    }

    /** The client's window in bytes, scaled as it asked. */
    private static int peerWindow(AckVerdict v) {
        long peerWindow = (v.clientWindow() & 0xffffL) << Math.max(v.clientWscale(), 0);
        return (int) Math.min(peerWindow, 0xffffffffL);
    }

    private int option(int n, int code, int value) {
        options.set(ValueLayout.JAVA_INT, n * 8L, code);
        options.set(ValueLayout.JAVA_INT, n * 8L + 4, value);
        return n + 1;
    }

    private void setU32(int fd, int option, int value, String what) throws LinuxException {
        u32.set(ValueLayout.JAVA_INT, 0, value);
        Native.setsockopt(fd, IPPROTO_TCP, option, u32, what);
    }

    @Override
    public boolean hostHasConnection(TcpSegment s) {
        SocketDiag d = diag();
        return d != null && d.lookup(s.dstHi(), s.dstLo(), s.dstPort(), s.srcHi(), s.srcLo(), s.srcPort())
                == SocketDiag.Found.CONNECTION;
    }

    /** Removes the TIME_WAIT socket on the verdict's tuple; false if there was none or it could not be removed. */
    private boolean destroyTimeWait(AckVerdict v) {
        SocketDiag d = diag();
        return d != null && d.destroyTimeWait(v.localHi(), v.localLo(), v.localPort(), v.clientHi(), v.clientLo(),
                v.clientPort());
    }

    /** The sock_diag socket, opened at the first question; null when the kernel has none. */
    private SocketDiag diag() {
        if (diag == null && !diagUnavailable) {
            try {
                diag = SocketDiag.open();
            } catch (LinuxException e) {
                // No sock_diag in this kernel: nothing to ask, so nothing found (the segment is answered as before).
                diagUnavailable = true;
            }
        }
        return diag;
    }

    @Override
    public void close() {
        if (uring != null) {
            uring.close();
            uring = null;
        }
        if (diag != null) {
            diag.close();
        }
        arena.close();
    }
}
