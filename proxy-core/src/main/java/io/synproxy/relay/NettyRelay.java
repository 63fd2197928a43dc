package io.synproxy.relay;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.DefaultChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollRegistrationPin;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.epoll.RelaySocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.util.concurrent.Future;
import io.synproxy.config.Keepalive;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.linux.Native;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Set;

/**
 * Adopts handed-off sockets and relays them to the backend (the shape of Netty's proxy example): the backend
 * connect starts as soon as the socket is adopted, the client is not read until the backend is connected
 * ({@link BackendConnect}), the backend channel lives on the client's event loop, each direction is a pump
 * ({@link Pump} copies, {@link SplicePump} splices) that stops reading while its output cannot take more, a FIN
 * in one direction is passed on while the other stays open, and when either side fails both are closed
 * ({@link Closing}).
 */
final class NettyRelay implements RelayEngine {
    private final EventLoop loop;
    private final RelaySettings settings;
    private final Counters counters;
    private final SocketProtocolFamily backendFamily;
    private final PipePool pipes;
    private final BackendTimings timings;
    /** Adopted client channels still open; touched only on {@link #loop}. */
    private final Set<Channel> clients = new HashSet<>();

    /**
     * @param timings where each backend connection's connect time is reported (the metrics' histograms), or
     *                {@link BackendTimings#NONE}
     */
    NettyRelay(EventLoop loop, RelaySettings settings, Counters counters, BackendTimings timings) {
        this.loop = loop;
        this.timings = timings;
        this.settings = settings;
        this.counters = counters;
        this.pipes = settings.mode() == RelayMode.COPY ? null : new PipePool(settings.pipeBytes());
        // The socket has the backend's family: a dual-stack one costs an IPV6_V6ONLY setsockopt per connection.
        this.backendFamily = settings.backend().getAddress() instanceof Inet4Address
                ? SocketProtocolFamily.INET : SocketProtocolFamily.INET6;
    }

    public RelaySettings settings() {
        return settings;
    }

    /** Closes every relay still open (the end of a drain), counting each, on the relay's loop; completes with how many. */
    public Future<Integer> closeAll() {
        return loop.submit(() -> {
            int n = 0;
            for (Channel c : new ArrayList<>(clients)) {
                if (c.isOpen()) {
                    counters.increment(Counter.DRAIN_CLOSED);
                    n++;
                    c.close();
                }
            }
            return n;
        });
    }

    /** Closes the idle splice pipes; call once the loop has stopped. */
    public void close() {
        if (pipes != null) {
            pipes.close();
        }
    }

    @Override
    public void adopt(int fd, AckVerdict verdict, Runnable onClose) {
        adopt(fd, verdict, onClose, null);
    }

    /**
     * {@inheritDoc} Here {@code beforeFirstReply} runs before the first bytes the backend sends the client are written,
     * if the client has sent nothing by then (its first bytes drop it); in forced splice mode at the join.
     */
    @Override
    public void adopt(int fd, AckVerdict verdict, Runnable onClose, Runnable beforeFirstReply) {
        long adopted = System.nanoTime();
        AbstractEpollStreamChannel client;
        try {
            // The verdict names both ends, so Netty need not ask the kernel; without one (a socket from elsewhere) it does.
            client = verdict != null ? new RelaySocketChannel(fd, localAddress(verdict), clientAddress(verdict), true)
                    : new EpollSocketChannel(fd);
        } catch (RuntimeException e) {
            // Netty could not read the socket's state: the channel never owned the fd.
            Native.close(fd);
            counters.increment(Counter.HANDOFF_FAILED);
            onClose.run();
            return;
        }
        RelaySocketChannel server;
        try {
            server = pinned(new RelaySocketChannel(backendFamily, settings.backend()));
        } catch (RuntimeException e) {
            // No socket for the backend (out of descriptors): the client cannot be served. Counted as the bootstrap's
            // failed connect was: a failed backend connection and a closed relay.
            Native.close(fd);
            counters.increment(Counter.BACKEND_CONNECT_FAILED);
            counters.increment(Counter.CONNECTIONS_CLOSED);
            onClose.run();
            return;
        }
        // First, so that the backend's handshake runs while the client channel is set up.
        long connecting = System.nanoTime();
        ChannelFuture connect = connectBackend(server);
        if (timings != BackendTimings.NONE) {
            connect.addListener(f -> {
                if (f.isSuccess()) {
                    long ready = System.nanoTime();
                    timings.backendReady(ready - connecting, ready - adopted);
                }
            });
        }
        // Read from the start (the request usually arrives before the backend's connect is seen complete): kept by
        // BackendConnect, at most EARLY_BYTES of it, and replayed at the join. The registration then asks epoll for
        // EPOLLIN at once: no epoll_ctl to start reading at the join, and no loop turn between the join and the
        // request's read. Forced splice mode reads through the splice socket instead.
        boolean readAtOnce = settings.mode() != RelayMode.SPLICE;
        client.config().setAutoRead(readAtOnce);
        if (readAtOnce && client instanceof RelaySocketChannel relaySocket) {
            try {
                relaySocket.readFromRegistration();
            } catch (IOException e) {
                // Not registered yet, so nothing was asked of the kernel: Netty adds the reads itself later.
            }
        }
        client.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        keepalive(client);
        clients.add(client);
        client.closeFuture().addListener(f -> {
            clients.remove(client);
            counters.increment(Counter.CONNECTIONS_CLOSED);
            onClose.run();
        });
        BackendConnect early = new BackendConnect(client, counters, this::join);
        early.beforeFirstReply = beforeFirstReply;
        client.pipeline().addLast("connect", early);
        pin(client);
        loop.register(client).addListener(f -> {
            // A socket the client reset before it was adopted registers inactive when Netty asked the kernel (no
            // verdict): channelActive never fires, so close it here or it would stay live forever. One adopted with
            // its verdict is taken as connected; a reset then shows on its first read, which closes it.
            if (!f.isSuccess() || !client.isActive()) {
                counters.increment(Counter.HANDOFF_FAILED);
                client.close();
                connect.channel().close();
                return;
            }
            connect.addListener(early);
        });
    }

    /**
     * Starts the backend channel's connect now, on this loop. Netty's {@code Bootstrap} would queue the
     * connect as a task of the loop, which runs only after the rest of the front end's drain (measured in the
     * two-namespace rig: the backend SYN left 175 us after the client's final ACK, and the client's request, already
     * there, waited for it). The relay's sockets start with TCP_NODELAY on ({@code RelaySocketChannelConfig}, as
     * Netty's own), so it is not set a second time here.
     *
     * <p>connect(2) is called before the channel is registered ({@link RelaySocketChannel#connectNow()}): a backend on
     * this host is then connected at once, and the channel is registered active, reading from its first epoll_ctl
     * (the join, later in this same loop turn, installs the pump before any read can be seen). A remote backend's
     * connect finishes through Netty's, on EPOLLOUT, with the connect timeout.
     */
    private ChannelFuture connectBackend(RelaySocketChannel server) {
        server.config().setAutoRead(false);
        server.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        server.config().setConnectTimeoutMillis(settings.connectTimeoutMillis());
        keepalive(server);
        server.pipeline().addLast(Placeholder.INSTANCE);
        // Bound to the loop, not to the channel's: a connect refused at once leaves the channel unregistered, and a
        // channel promise would then have no executor to tell its listeners.
        ChannelPromise connected = new DefaultChannelPromise(server, loop);
        boolean established;
        try {
            established = server.connectNow();
            if (established && settings.mode() != RelayMode.SPLICE) {
                // Forced splice reads through the splice socket: the channel itself must never read.
                server.readFromRegistration();
            }
        } catch (IOException e) {
            connected.setFailure(e);
            server.unsafe().closeForcibly();
            return connected;
        }
        // Registered inline on this loop, so the connect below starts before this method returns.
        loop.register(server).addListener(f -> {
            if (!f.isSuccess()) {
                connected.setFailure(f.cause());
                server.unsafe().closeForcibly();
            } else if (established) {
                connected.setSuccess();
            } else {
                server.connect(settings.backend(), connected).addListener(ChannelFutureListener.CLOSE_ON_FAILURE);
            }
        });
        return connected;
    }

    /** TCP keepalive as the settings ask, on either leg. */
    private void keepalive(Channel ch) {
        Keepalive k = settings.keepalive();
        if (k != null) {
            ch.config().setOption(ChannelOption.SO_KEEPALIVE, true);
            ch.config().setOption(EpollChannelOption.TCP_KEEPIDLE, k.idleSeconds());
            ch.config().setOption(EpollChannelOption.TCP_KEEPINTVL, k.intervalSeconds());
            ch.config().setOption(EpollChannelOption.TCP_KEEPCNT, k.count());
        }
    }

    /** Both legs are up: install the pumps, send the PROXY header, replay the early reads, start reading. */
    private void join(Channel client, Channel server, BackendConnect early) {
        IdleWatch idle = IdleWatch.start(client, settings.idleTimeoutMillis(), counters);
        Direction up = new Direction(client, server, Counter.BYTES_TO_BACKEND, Counter.CLIENT_RESET, idle);
        Direction down = new Direction(server, client, Counter.BYTES_TO_CLIENT, Counter.BACKEND_RESET, idle);
        up.peer = down;
        down.peer = up;
        down.beforeFirstWrite = early.beforeFirstReply;
        Pump.Splicer splicer = settings.mode() == RelayMode.AUTO ? this::splice : null;
        server.pipeline().replace(server.pipeline().first(), "relay", new Pump(down, counters, splicer));
        server.closeFuture().addListener(c -> Closing.closeOnFlush(client, !up.inputDone));
        client.closeFuture().addListener(c -> Closing.closeOnFlush(server, !down.inputDone));
        client.pipeline().replace(early, "relay", new Pump(up, counters, splicer));
        ProxyHeader.send(settings.proxyProtocol(), client, server);
        if (settings.mode() != RelayMode.SPLICE) {
            // Before the replay: a replay that fills the backend's queue pauses the client, and that must stick.
            client.config().setAutoRead(true);
            server.config().setAutoRead(true);
        }
        early.replay();
        if (settings.mode() == RelayMode.SPLICE) {
            // The splice pumps move bytes without the copy pump's hook: no waiting to see who speaks first.
            if (down.beforeFirstWrite != null) {
                down.beforeWrite();
            }
            splice(up, client.pipeline().context("relay"));
            splice(down, server.pipeline().context("relay"));
        }
    }

    /** Hands a direction from its copy pump to a splice pump; stays with the copy pump if no pipe can be had. */
    private void splice(Direction dir, ChannelHandlerContext copyPump) {
        if (!dir.in.isActive() || !SplicePump.start(dir, copyPump, pipes, counters)) {
            dir.in.config().setAutoRead(true);
        }
    }

    /**
     * Pinned before it is registered, the flag goes into the channel's first epoll_ctl instead of one of its own.
     */
    private static RelaySocketChannel pinned(RelaySocketChannel ch) {
        pin(ch);
        return ch;
    }

    private static InetSocketAddress clientAddress(AckVerdict v) {
        return Relay.socketAddress(v.clientHi(), v.clientLo(), v.clientPort());
    }

    private static InetSocketAddress localAddress(AckVerdict v) {
        return Relay.socketAddress(v.localHi(), v.localLo(), v.localPort());
    }

    private static void pin(Channel ch) {
        try {
            EpollRegistrationPin.pin(ch);
        } catch (IOException e) {
            // Not an epoll channel: nothing to pin.
        }
    }

    /** The backend channel's handler until the relay replaces it. */
    @ChannelHandler.Sharable
    private static final class Placeholder extends ChannelInboundHandlerAdapter {
        static final Placeholder INSTANCE = new Placeholder();
    }
}
