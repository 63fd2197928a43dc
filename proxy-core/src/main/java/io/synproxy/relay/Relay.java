package io.synproxy.relay;

import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import io.netty.util.concurrent.Future;
import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;
import io.synproxy.linux.Uring;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;

import static io.synproxy.linux.Constants.AF_INET;
import static io.synproxy.linux.Constants.AF_INET6;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOCK_STREAM;

/**
 * Adopts handed-off sockets and relays them to the backend, on one event loop, on raw descriptors: each adopted
 * socket and its backend socket join the loop's epoll as two handles of their own ({@link Leg}), and each direction
 * ({@link Flow}) moves bytes with recv/send through one buffer per loop, or with splice(2) through a pipe from the
 * loop's {@link PipePool}; {@link RelayConnection} is one connection's backend connect, life and end. No channel,
 * pipeline, promise or buffer object per connection or per message (the relay was two Netty channels a connection
 * until 5 December: README, "Relay").
 */
public final class Relay implements ConnectionSink {
    /** The loop's read buffer: the most one read or splice moves at a time. */
    static final int BUFFER_BYTES = 64 << 10;
    /** Entries of the io_uring that closes the sockets: 32 connections a system call. */
    private static final int CLOSE_ENTRIES = 64;

    final IoEventLoop loop;
    final RelaySettings settings;
    final Counters counters;
    final BackendTimings timings;
    /** Null in copy mode. */
    final PipePool pipes;
    final MemorySegment buffer;
    final MemorySegment backendAddress;
    /** Connections open on this loop; touched only on it. */
    final Set<RelayConnection> live = new HashSet<>();
    private final Arena arena = Arena.ofShared();
    private final int family;
    /**
     * Closes the sockets of the connections that ended in an epoll batch, all in one system call instead of two
     * close(2) each (a system call costs about 1 us in entry and exit alone on this host's kind of virtual machine);
     * null where io_uring cannot be used or is turned off, as for the handoff.
     */
    private Uring closer;
    /** Connections ended in the epoll batch being handled, closed in a task after it; touched only on the loop. */
    private List<RelayConnection> ending = new ArrayList<>();
    /** The other list, swapped with {@link #ending} as a batch's closes begin. */
    private List<RelayConnection> closing = new ArrayList<>();
    /** The task that closes them, made once. */
    private final Runnable closeEnded = this::closeEnded;

    /**
     * @param timings where each backend connection's connect time is reported (the metrics' histograms), or
     *                {@link BackendTimings#NONE}
     */
    public Relay(EventLoop loop, RelaySettings settings, Counters counters, BackendTimings timings) {
        this(loop, settings, counters, timings, Uring.wanted());
    }

    /** @param useUring close through io_uring where the kernel allows it; else close(2) for each socket */
    Relay(EventLoop loop, RelaySettings settings, Counters counters, BackendTimings timings, boolean useUring) {
        this.loop = (IoEventLoop) loop;
        this.settings = settings;
        this.counters = counters;
        this.timings = timings;
        this.pipes = settings.mode() == RelayMode.COPY ? null : new PipePool(settings.pipeBytes());
        this.buffer = arena.allocate(BUFFER_BYTES, 64);
        InetSocketAddress backend = settings.backend();
        byte[] ip = backend.getAddress().getAddress();
        if (backend.getAddress() instanceof Inet4Address) {
            family = AF_INET;
            backendAddress = SockAddr.in(SockAddr.allocateIn(arena), ByteBuffer.wrap(ip).getInt(), backend.getPort());
        } else {
            family = AF_INET6;
            ByteBuffer b = ByteBuffer.wrap(ip);
            backendAddress = SockAddr.in6(SockAddr.allocateIn6(arena), b.getLong(), b.getLong(), backend.getPort());
            if (backend.getAddress() instanceof Inet6Address v6 && v6.getScopeId() != 0) {
                // A link-local backend (fe80::1%eth0): its interface goes with it, as Netty's connect passed it.
                SockAddr.scope6(backendAddress, v6.getScopeId());
            }
        }
        if (useUring) {
            try {
                closer = Uring.open(CLOSE_ENTRIES, arena.allocate(128, 8));
            } catch (LinuxException e) {
                // No io_uring here (a container's seccomp profile): close(2) for each socket.
                closer = null;
            }
        }
    }

    /** Whether the sockets are closed through io_uring (else with close(2) each). */
    boolean closesThroughUring() {
        return closer != null;
    }

    /** Memory that lives as long as this relay (closed by {@link #close}). */
    Arena arena() {
        return arena;
    }

    public RelaySettings settings() {
        return settings;
    }

    /** Closes every relay still open (the end of a drain), counting each, on the relay's loop; completes with how many. */
    public Future<Integer> closeAll() {
        return loop.submit(() -> {
            int n = 0;
            for (RelayConnection c : new ArrayList<>(live)) {
                counters.increment(Counter.DRAIN_CLOSED);
                n++;
                c.close();
            }
            return n;
        });
    }

    /** Closes the idle splice pipes and frees the loop's buffer; call once the loop has stopped. */
    public void close() {
        if (pipes != null) {
            pipes.close();
        }
        if (closer != null) {
            closer.close();
            closer = null;
        }
        arena.close();
    }

    @Override
    public void adopt(int fd, AckVerdict verdict, Runnable onClose) {
        adopt(fd, verdict, onClose, null);
    }

    /**
     * {@inheritDoc} Here {@code beforeFirstReply} runs before the first bytes (or the FIN) the backend sends the
     * client, if the client has sent nothing by then.
     */
    @Override
    public void adopt(int fd, AckVerdict verdict, Runnable onClose, Runnable beforeFirstReply) {
        adopt(fd, verdict, onClose, beforeFirstReply, false);
    }

    /** A socket {@link KernelAccept} accepted: it has TCP_NODELAY from its listener already. */
    void adoptAccepted(int fd, Runnable onClose) {
        adopt(fd, null, onClose, null, true);
    }

    private void adopt(int fd, AckVerdict verdict, Runnable onClose, Runnable beforeFirstReply, boolean noDelay) {
        long adopted = System.nanoTime();
        int backendFd;
        try {
            backendFd = Native.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        } catch (LinuxException e) {
            // No socket for the backend (out of descriptors): the client cannot be served.
            Native.close(fd);
            counters.increment(Counter.BACKEND_CONNECT_FAILED);
            counters.increment(Counter.CONNECTIONS_CLOSED);
            onClose.run();
            return;
        }
        RelayConnection c = new RelayConnection(this, fd, backendFd, verdict, onClose, adopted);
        c.down.beforeFirstWrite = beforeFirstReply;
        c.clientNoDelay = noDelay;
        c.start();
    }

    /** Queues {@code c}'s sockets to be closed after the epoll batch being handled, with the others of the batch. */
    void end(RelayConnection c) {
        if (ending.isEmpty()) {
            try {
                loop.execute(closeEnded);
            } catch (RejectedExecutionException e) {
                // The loop is shutting down: no batch follows.
                c.closeNow();
                return;
            }
        }
        ending.add(c);
    }

    private void closeEnded() {
        List<RelayConnection> batch = ending;
        ending = closing;
        closing = batch;
        // A socket Netty closed already (a loop shutting down closes the handles still registered) is not closed
        // again by number, which may belong to another socket by now: close(2) through its Leg skips it.
        batch.removeIf(c -> {
            if (c.client.isOpen() && c.server.isOpen()) {
                return false;
            }
            c.closeNow();
            return true;
        });
        int from = 0;
        while (from < batch.size()) {
            int to = closer == null ? batch.size() : Math.min(batch.size(), from + closer.entries() / 2);
            int closed = closer == null ? 0 : closeThroughUring(batch, from, to);
            for (int i = from; i < to; i++) {
                // A connection whose sockets the kernel did not take (io_uring_enter failed) is closed with close(2).
                if (i - from < closed) {
                    batch.get(i).closedInBatch();
                } else {
                    batch.get(i).closeNow();
                }
            }
            from = to;
        }
        batch.clear();
    }

    /**
     * Both sockets of each of {@code batch[from, to)} closed in one io_uring submit; returns how many connections
     * the kernel took both of. An entry's own error does not matter: close releases the descriptor whatever it says.
     */
    private int closeThroughUring(List<RelayConnection> batch, int from, int to) {
        for (int i = from; i < to; i++) {
            RelayConnection c = batch.get(i);
            closer.closeDescriptor(c.client.fd);
            closer.closeDescriptor(c.server.fd);
        }
        if (closer.submit() == 0) {
            return to - from;
        }
        int taken = closer.taken();
        // A taken entry is closed: only the rest may go to close(2) (a number closed twice could be another thread's
        // new socket). A half-taken connection's client socket is closed; Leg.close skips it once it is marked.
        RelayConnection half = taken % 2 == 1 ? batch.get(from + taken / 2) : null;
        if (half != null) {
            half.client.closedElsewhere();
        }
        closer.close();
        closer = null;
        return taken / 2;
    }

    /** The address of a 128-bit pair (IPv4 as {@code ::ffff:a.b.c.d}, which gives an Inet4Address) and port. */
    static InetSocketAddress socketAddress(long hi, long lo, int port) {
        byte[] ip = new byte[16];
        for (int i = 0; i < 8; i++) {
            ip[i] = (byte) (hi >>> (56 - 8 * i));
            ip[8 + i] = (byte) (lo >>> (56 - 8 * i));
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(ip), port);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("16 bytes are always an address", e);
        }
    }
}
