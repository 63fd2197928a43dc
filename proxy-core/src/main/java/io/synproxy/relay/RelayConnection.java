package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.channel.unix.Socket;
import io.netty.util.concurrent.ScheduledFuture;
import io.synproxy.config.Keepalive;
import io.synproxy.config.ProxyProtocol;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counter;

import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

import static io.synproxy.linux.Constants.EALREADY;
import static io.synproxy.linux.Constants.ECONNREFUSED;
import static io.synproxy.linux.Constants.EINPROGRESS;
import static io.synproxy.linux.Constants.EISCONN;
import static io.synproxy.linux.Constants.IPPROTO_TCP;
import static io.synproxy.linux.Constants.SOL_SOCKET;
import static io.synproxy.linux.Constants.SO_KEEPALIVE;
import static io.synproxy.linux.Constants.TCP_KEEPCNT;
import static io.synproxy.linux.Constants.TCP_KEEPIDLE;
import static io.synproxy.linux.Constants.TCP_KEEPINTVL;
import static io.synproxy.linux.Constants.TCP_NODELAY;

/**
 * One relayed connection: the adopted client socket, the backend socket, and a direction each way. The backend
 * connect starts at adoption; a backend on this host is connected within connect(2) itself (loopback runs the whole
 * handshake inside the call, which returns EINPROGRESS only because the SYN/ACK waits in the socket's backlog until
 * the call releases it: a second connect(2) returns 0), a remote one on EPOLLOUT, bounded by the connect timeout.
 * The client is read from the start: what it sends before the backend is connected is kept and written first. Ends
 * when both FINs are through, when either socket fails, at the idle timeout, or at a drain; the sockets are closed
 * in a task after the epoll batch being handled, which may still hold an event for either descriptor (a socket opened
 * later in the batch could take the number over), together with those of every connection that ended in the batch
 * ({@link Relay#end}).
 */
final class RelayConnection implements Runnable {
    final Relay relay;
    final Leg client;
    final Leg server;
    /** Client to backend, and backend to client. */
    final Flow up;
    final Flow down;
    boolean closed;
    long lastNanos;
    /** The client's socket has TCP_NODELAY already (accepted from a listener that has it). */
    boolean clientNoDelay;
    private final AckVerdict verdict;
    private final Runnable onClose;
    private final long adopted;
    private long connecting;
    private boolean connected;
    private ScheduledFuture<?> timer;

    RelayConnection(Relay relay, int clientFd, int serverFd, AckVerdict verdict, Runnable onClose, long adopted) {
        this.relay = relay;
        this.verdict = verdict;
        this.onClose = onClose;
        this.adopted = adopted;
        this.client = new Leg(this, clientFd);
        this.server = new Leg(this, serverFd);
        boolean auto = relay.settings.mode() == RelayMode.AUTO;
        this.up = new Flow(this, client, server, Counter.BYTES_TO_BACKEND, Counter.CLIENT_RESET, auto);
        this.down = new Flow(this, server, client, Counter.BYTES_TO_CLIENT, Counter.BACKEND_RESET, auto);
        up.peer = down;
        down.peer = up;
        client.reader = up;
        client.writer = down;
        server.reader = down;
        server.writer = up;
    }

    /** True once the backend is connected: until then only the client is read, into its direction's kept bytes. */
    boolean connected() {
        return connected;
    }

    /** Starts the backend connect and the client's reads; on the loop. */
    void start() {
        relay.live.add(this);
        options();
        connecting = System.nanoTime();
        int rc = Native.connectNow(server.fd, relay.backendAddress);
        if (rc == -EINPROGRESS) {
            rc = Native.connectNow(server.fd, relay.backendAddress);
        }
        boolean now = rc == 0 || rc == -EISCONN;
        if (!now && rc != -EALREADY && rc != -EINPROGRESS) {
            connectFailed(-rc);
            return;
        }
        // Read from the start (the request usually arrives with or just after the final ACK): in the registration's
        // own epoll_ctl.
        if (!client.register(relay.loop, true, false) || !server.register(relay.loop, now, !now)) {
            relay.counters.increment(Counter.HANDOFF_FAILED);
            close();
            return;
        }
        if (now) {
            joined();
        } else {
            timer = relay.loop.schedule(this::connectTimedOut, relay.settings.connectTimeoutMillis(),
                    TimeUnit.MILLISECONDS);
        }
    }

    /** An epoll event on one of the two sockets. */
    void event(Leg leg, int ops) {
        if (closed) {
            return;
        }
        if (leg == server && !connected) {
            int error = Native.soError(server.fd);
            if (error == 0) {
                joined();
            } else {
                connectFailed(error);
            }
            return;
        }
        boolean error = (ops & (Leg.ERR | Leg.HUP)) != 0;
        if ((ops & Leg.OUT) != 0 || error) {
            leg.writer.step();
        }
        if ((ops & Leg.RDHUP) != 0) {
            leg.reader.finArrived = true;
        }
        if (!closed && ((ops & (Leg.IN | Leg.RDHUP)) != 0 || error) && leg.reader.wantsRead()) {
            leg.reader.step();
        }
        if (error && !closed) {
            // An error the reads and writes above did not meet (the input paused, nothing to write): reported once.
            // EPOLLHUP alone is both FINs through this socket: the data before the FIN is still read, and the FIN
            // passed on, as the output takes it.
            int e = Native.soError(leg.fd);
            if (e != 0) {
                reset(leg.reader);
            }
        }
    }

    /** The backend is connected: the kept bytes (after the PROXY header) go first, then the relay runs. */
    private void joined() {
        connected = true;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        if (relay.timings != BackendTimings.NONE) {
            long ready = System.nanoTime();
            relay.timings.backendReady(ready - connecting, ready - adopted);
        }
        ProxyProtocol protocol = relay.settings.proxyProtocol();
        if (protocol != ProxyProtocol.OFF) {
            ByteBuf header = proxyHeader(protocol);
            if (header == null) {
                close();
                return;
            }
            up.prepend(header);
        }
        if (relay.settings.mode() == RelayMode.SPLICE) {
            // Forced splice: every direction from its first byte (bytes already kept go first).
            up.startSplice();
            down.startSplice();
        }
        long idle = relay.settings.idleTimeoutMillis();
        if (idle > 0) {
            lastNanos = System.nanoTime();
            timer = relay.loop.schedule(this, idle, TimeUnit.MILLISECONDS);
        }
        if (up.hasPending() || up.inEof) {
            up.step();
        } else {
            // Nothing read yet: the request, if it is there already, was reported by the registration (an edge is
            // raised for data present when a descriptor joins epoll), so reading now would mostly find nothing.
            client.update();
            server.update();
        }
    }

    private ByteBuf proxyHeader(ProxyProtocol protocol) {
        InetSocketAddress src;
        InetSocketAddress dst;
        if (verdict != null) {
            src = Relay.socketAddress(verdict.clientHi(), verdict.clientLo(), verdict.clientPort());
            dst = Relay.socketAddress(verdict.localHi(), verdict.localLo(), verdict.localPort());
        } else {
            try {
                Socket s = new Socket(client.fd);
                src = s.remoteAddress();
                dst = s.localAddress();
            } catch (RuntimeException e) {
                return null;
            }
            if (src == null || dst == null) {
                return null;
            }
        }
        return ProxyHeader.encode(protocol, src, dst);
    }

    private void connectTimedOut() {
        if (!connected && !closed) {
            relay.counters.increment(Counter.BACKEND_CONNECT_FAILED);
            relay.counters.increment(Counter.BACKEND_TIMEOUT);
            close();
        }
    }

    private void connectFailed(int errno) {
        relay.counters.increment(Counter.BACKEND_CONNECT_FAILED);
        if (errno == ECONNREFUSED) {
            relay.counters.increment(Counter.BACKEND_REFUSED);
        }
        close();
    }

    /** A read or write on {@code flow}'s input failed: counted as that side's reset, all closed. */
    void reset(Flow flow) {
        if (!closed) {
            relay.counters.increment(flow.reset);
            close();
        }
    }

    /** The idle timer. */
    @Override
    public void run() {
        if (closed) {
            return;
        }
        long timeout = TimeUnit.MILLISECONDS.toNanos(relay.settings.idleTimeoutMillis());
        long idle = System.nanoTime() - lastNanos;
        if (idle >= timeout) {
            relay.counters.increment(Counter.IDLE_CLOSED);
            close();
        } else {
            timer = relay.loop.schedule(this, timeout - idle, TimeUnit.NANOSECONDS);
        }
    }

    /** Ends the connection: both sockets closed after this epoll batch, then counted and reported. */
    void close() {
        if (closed) {
            return;
        }
        closed = true;
        relay.live.remove(this);
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
        relay.end(this);
    }

    /** Closes both sockets with close(2): where no batch follows (the loop is shutting down) or no io_uring is used. */
    void closeNow() {
        client.close();
        server.close();
        ended();
    }

    /** After both descriptors were closed by the relay's batch: the registrations, buffers, pipes and counts. */
    void closedInBatch() {
        client.closedElsewhere();
        server.closedElsewhere();
        ended();
    }

    private void ended() {
        up.free();
        down.free();
        relay.counters.increment(Counter.CONNECTIONS_CLOSED);
        onClose.run();
    }

    /** TCP_NODELAY on the backend socket (the handoff sets it on the client's), and keepalive on both as asked. */
    private void options() {
        try {
            Native.setsockopt(server.fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
            if (verdict == null && !clientNoDelay) {
                // A socket from elsewhere: not built by the handoff, nor accepted from our listener.
                Native.setsockopt(client.fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
            }
            Keepalive k = relay.settings.keepalive();
            if (k != null) {
                for (int fd : new int[] {client.fd, server.fd}) {
                    Native.setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
                    Native.setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, k.idleSeconds(), "TCP_KEEPIDLE");
                    Native.setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, k.intervalSeconds(), "TCP_KEEPINTVL");
                    Native.setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, k.count(), "TCP_KEEPCNT");
                }
            }
        } catch (LinuxException e) {
            // A socket that refuses an option still relays; the client's reset, if that is what it was, shows on its
            // first read.
        }
    }
}
