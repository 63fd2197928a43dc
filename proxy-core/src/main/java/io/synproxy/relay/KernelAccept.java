package io.synproxy.relay;

import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.policy.SourceAccess;
import io.synproxy.policy.SourceLimits;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

import static io.synproxy.linux.Constants.AF_INET;
import static io.synproxy.linux.Constants.AF_INET6;
import static io.synproxy.linux.Constants.ECONNABORTED;
import static io.synproxy.linux.Constants.EINTR;
import static io.synproxy.linux.Constants.EMFILE;
import static io.synproxy.linux.Constants.ENFILE;
import static io.synproxy.linux.Constants.ENOBUFS;
import static io.synproxy.linux.Constants.ENOMEM;
import static io.synproxy.linux.Constants.IPPROTO_TCP;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOCK_STREAM;
import static io.synproxy.linux.Constants.SOL_SOCKET;
import static io.synproxy.linux.Constants.SO_LINGER;
import static io.synproxy.linux.Constants.SO_REUSEADDR;
import static io.synproxy.linux.Constants.SO_REUSEPORT;
import static io.synproxy.linux.Constants.TCP_NODELAY;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * {@code --handoff kernel}: a loop's listening socket on a protected address and port. The BPF program at tc hands it
 * every final ACK whose cookie verifies (bpf_sk_assign_tcp_reqsk), the kernel builds the connection in softirq, as
 * from its own SYN cookies, and this accepts it and gives it to the {@link Relay}. Every loop has one, in one
 * SO_REUSEPORT group: the kernel spreads the connections over them.
 *
 * <p>It never sees a SYN from the network (the guard drops those the program does not give it, see
 * io.synproxy.guard.NftGuard), so its accept queue holds established connections of real clients only. Past
 * {@code --max-connections} live relays on this loop, or while draining, an accepted connection is reset (SO_LINGER
 * 0), as the repair handoff answers its final ACK with a RST; so is one its source's per-source limit refuses
 * ({@code --max-connections-per-source}, {@code --max-rate-per-source}: the same table and counters as the repair
 * handoff's, kept here at accept). Accepted sockets inherit the listener's TCP_NODELAY (Linux copies it into the
 * child), so the relay does not set it again.
 */
public final class KernelAccept implements EpollIoHandle {
    /** What the kernel keeps of connections not yet accepted (net.core.somaxconn caps it, 4096 by default). */
    static final int BACKLOG = 4096;
    /** How soon accept is tried again after it found no descriptor (or memory) for a waiting connection. */
    static final long RETRY_MILLIS = 100;

    private final IoEventLoop loop;
    private final Relay relay;
    private final Counters counters;
    private final int maxConnections;
    private final SourceAccess access;
    private final SourceLimits limits;
    private final int fd;
    private final FileDescriptor descriptor;
    private final MemorySegment linger;
    private final MemorySegment peer;
    private final MemorySegment peerLength;
    private final RecentTuples refused = new RecentTuples();
    private final Runnable retry = this::retry;
    private boolean retryPending;
    private volatile boolean closing;
    private final Runnable closed = this::closed;
    private IoRegistration registration;
    private volatile boolean draining;
    private volatile int live;
    private Room room = full -> { };

    private KernelAccept(IoEventLoop loop, Relay relay, Counters counters, int maxConnections, SourceAccess access,
                         SourceLimits limits, int fd, Arena arena) {
        this.loop = loop;
        this.relay = relay;
        this.counters = counters;
        this.maxConnections = maxConnections;
        this.access = access;
        this.limits = limits;
        this.fd = fd;
        this.descriptor = new FileDescriptor(fd);
        this.linger = arena.allocate(8, 4);
        // The larger of the two families' addresses.
        this.peer = arena.allocate(SockAddr.SOCKADDR_IN6_SIZE, 4);
        this.peerLength = arena.allocate(4, 4);
    }

    /**
     * Listens on {@code listen} (SO_REUSEADDR, SO_REUSEPORT, TCP_NODELAY, which accepted sockets inherit) and joins
     * {@code loop}'s epoll.
     *
     * @param access the deny and allow lists (the BPF program holds them too: see {@link #handle})
     * @param limits the per-source limits every loop shares, or null for none
     */
    public static KernelAccept open(IoEventLoop loop, Relay relay, Counters counters, int maxConnections,
                                    SourceAccess access, SourceLimits limits, InetSocketAddress listen)
            throws LinuxException {
        boolean v4 = listen.getAddress() instanceof Inet4Address;
        int fd = Native.socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        String step = "setsockopt";
        try (Arena a = Arena.ofConfined()) {
            Native.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
            Native.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
            Native.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
            ByteBuffer address = ByteBuffer.wrap(listen.getAddress().getAddress());
            MemorySegment sa = v4 ? SockAddr.in(SockAddr.allocateIn(a), address.getInt(), listen.getPort())
                    : SockAddr.in6(SockAddr.allocateIn6(a), address.getLong(), address.getLong(), listen.getPort());
            step = "bind";
            Native.bind(fd, sa);
            step = "listen";
            int rc = Native.listen(fd, BACKLOG);
            if (rc < 0) {
                throw new LinuxException("listen", -rc);
            }
        } catch (LinuxException e) {
            Native.close(fd);
            // Another process listening there (EADDRINUSE) is the likely cause: say where.
            throw new LinuxException("listening on " + listen.getAddress().getHostAddress() + " port "
                    + listen.getPort() + ": " + step, e.errno());
        }
        KernelAccept k = new KernelAccept(loop, relay, counters, maxConnections, access, limits, fd, relay.arena());
        try {
            k.registration = loop.register(k).syncUninterruptibly().getNow();
            loop.submit(() -> k.registration.submit(EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLET))).syncUninterruptibly();
        } catch (RuntimeException e) {
            k.close();
            throw e;
        }
        return k;
    }

    /** Told on the loop when this listener's relays reach {@code --max-connections}, and when one closes after. */
    @FunctionalInterface
    public interface Room {
        void full(boolean full);
    }

    /** Who is told when this listener fills up and when it has room again ({@link Room}); on the loop. */
    public void whenFull(Room r) {
        room = r;
    }

    /** Live relays of connections this accepted. */
    public int live() {
        return live;
    }

    /** From now on every accepted connection is reset. */
    public void startDraining() {
        draining = true;
    }

    /**
     * Leaves the SO_REUSEPORT group while another instance takes over (an upgrade in place): accepts and relays what
     * the queue holds, then closes the listening socket, so the kernel gives the next connections to the other
     * instance's listeners instead of this one, which would reset them while it drains. On the loop.
     */
    public void leave() {
        handle(registration, null);
        close();
    }

    @Override
    public FileDescriptor fd() {
        return descriptor;
    }

    /**
     * Edge-triggered: accepts until the queue is empty. A connection that went away in the queue (ECONNABORTED) or
     * an interrupted call does not end the turn: epoll says nothing more until the next connection arrives, and the
     * ones behind it would wait for that. No descriptor or memory left (EMFILE, ENFILE, ENOBUFS, ENOMEM) ends the
     * turn and tries again {@value #RETRY_MILLIS} ms later: at once would spin, and the next arrival may never come
     * (the connection waits in the queue meanwhile, its client's data in its buffer). Any other error ends the turn.
     */
    @Override
    public void handle(IoRegistration r, IoEvent event) {
        for (;;) {
            peerLength.set(JAVA_INT, 0, SockAddr.SOCKADDR_IN6_SIZE);
            int c = Native.accept4(fd, SOCK_NONBLOCK | SOCK_CLOEXEC, peer, peerLength);
            if (c == -ECONNABORTED || c == -EINTR) {
                continue;
            }
            if (c < 0) {
                if (c == -EMFILE || c == -ENFILE || c == -ENOBUFS || c == -ENOMEM) {
                    retryLater();
                }
                return;
            }
            long hi = SockAddr.addressHi(peer);
            long lo = SockAddr.addressLo(peer);
            int port = SockAddr.port(peer);
            long now = System.nanoTime();
            if (refused.seenAgain(hi, lo, port, now)) {
                reset(c, null);
                continue;
            }
            // The program drops a listed source's SYNs and final ACKs; what it lets through (a SYN to a tuple in
            // TIME_WAIT, whose handshake the kernel makes, or one from just before a reload) is refused here.
            if (access.restricts() && !access.permits(hi, lo)) {
                refuse(c, Counter.ACK_DENIED, hi, lo, port, now);
                continue;
            }
            counters.increment(Counter.ACK_VALID);
            if (draining || live >= maxConnections) {
                refuse(c, draining ? Counter.DRAIN_RST : Counter.LIMIT_RST, hi, lo, port, now);
                continue;
            }
            if (limits == null) {
                taken();
                counters.increment(Counter.HANDOFFS);
                relay.adoptAccepted(c, closed);
            } else {
                admit(c, hi, lo, port, now);
            }
        }
    }

    /** The per-source limits' turn, as the repair handoff's at its final ACK: refused with a RST, or relayed. */
    private void admit(int c, long hi, long lo, int port, long now) {
        int admitted = limits.acquire(hi, lo, now);
        if (admitted == SourceLimits.OVER_CONNECTIONS || admitted == SourceLimits.OVER_RATE) {
            refuse(c, admitted == SourceLimits.OVER_RATE ? Counter.SOURCE_RATE_RST : Counter.SOURCE_LIMIT_RST,
                    hi, lo, port, now);
            return;
        }
        taken();
        counters.increment(Counter.HANDOFFS);
        if (admitted == SourceLimits.TABLE_FULL) {
            counters.increment(Counter.SOURCE_TABLE_FULL);
            relay.adoptAccepted(c, closed);
            return;
        }
        relay.adoptAccepted(c, () -> {
            closed();
            limits.release(hi, lo);
        });
    }

    private void taken() {
        if (++live == maxConnections) {
            room.full(true);
        }
    }

    private void closed() {
        if (live-- == maxConnections) {
            room.full(false);
        }
    }

    private void retryLater() {
        if (!retryPending) {
            retryPending = true;
            loop.schedule(retry, RETRY_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    private void retry() {
        retryPending = false;
        if (!closing) {
            handle(registration, null);
        }
    }

    /**
     * Resets {@code c} and remembers its client. A client reset this way has usually sent data already (its request,
     * right behind the final ACK); that segment carries the cookie's ACK too, and arriving after the reset it makes
     * the program and the kernel build the same connection again. The second one is reset without being counted: one
     * refused client, one count, as the repair handoff's table of closed tuples gives.
     */
    private void refuse(int c, Counter why, long hi, long lo, int port, long now) {
        refused.add(hi, lo, port, now);
        reset(c, why);
    }

    /** Closes {@code c} with a RST (SO_LINGER on, 0 s), as the repair handoff refuses a final ACK; counts {@code why}. */
    private void reset(int c, Counter why) {
        linger.set(JAVA_INT, 0, 1);
        linger.set(JAVA_INT, 4, 0);
        try {
            Native.setsockopt(c, SOL_SOCKET, SO_LINGER, linger, "SO_LINGER");
        } catch (LinuxException e) {
            // A plain close then: a FIN instead of the RST.
        }
        Native.close(c);
        if (why != null) {
            counters.increment(why);
        }
    }

    @Override
    public void close() {
        closing = true;
        Leg.close(descriptor, registration);
    }
}
