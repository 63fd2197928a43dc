package io.synproxy.relay;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollRegistrationPin;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import io.synproxy.config.Keepalive;
import io.synproxy.config.ProxyProtocol;
import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.linux.Native;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;

import java.io.IOException;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Adopts handed-off sockets and relays them to the backend (the shape of Netty's proxy example):
 * the client socket is not read until the backend is connected, the backend channel lives on the
 * client's event loop, the next chunk is read only after the previous one was flushed
 * (back-pressure), a FIN in one direction is passed on while the other direction stays open,
 * and when either side fails both are closed.
 */
public final class Relay implements ConnectionSink {
    private final EventLoop loop;
    private final InetSocketAddress backend;
    private final Counters counters;
    private final int connectTimeoutMillis;
    private ProxyProtocol proxyProtocol = ProxyProtocol.OFF;
    private Keepalive keepalive;

    public Relay(EventLoop loop, InetSocketAddress backend, Counters counters, int connectTimeoutMillis) {
        this.loop = loop;
        this.backend = backend;
        this.counters = counters;
        this.connectTimeoutMillis = connectTimeoutMillis;
    }

    private long idleTimeoutMillis;
    /** Adopted client channels still open; touched only on {@link #loop}. */
    private final Set<Channel> clients = new HashSet<>();

    /**
     * Closes a relay when neither side has sent anything for {@code millis} (0: never). Call before the
     * first adoption.
     */
    public Relay idleTimeout(long millis) {
        this.idleTimeoutMillis = millis;
        return this;
    }

    /** Closes every relay still open (the end of a drain), counting each, on the relay's loop; completes with how many. */
    public io.netty.util.concurrent.Future<Integer> closeAll() {
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

    /** The connect failure's cause, for the per-cause counter. */
    private void countConnectFailure(Throwable cause) {
        if (cause instanceof ConnectTimeoutException) {
            counters.increment(Counter.BACKEND_TIMEOUT);
        } else if (cause instanceof ConnectException e && e.getMessage() != null && e.getMessage().contains("refused")) {
            counters.increment(Counter.BACKEND_REFUSED);
        }
    }

    /** Closes the relay when the idle handler before it reports both directions silent. */
    private final class IdleClose extends ChannelInboundHandlerAdapter {
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent) {
                counters.increment(Counter.IDLE_CLOSED);
                ctx.close();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }
    }

    @Override
    public void adopt(int fd, AckVerdict verdict, Runnable onClose) {
        EpollSocketChannel client;
        try {
            client = new EpollSocketChannel(fd);
        } catch (RuntimeException e) {
            // Netty could not read the socket's state: the channel never owned the fd.
            Native.close(fd);
            counters.increment(Counter.HANDOFF_FAILED);
            onClose.run();
            return;
        }
        client.config().setAutoRead(false);
        client.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        client.config().setTcpNoDelay(true);
        clients.add(client);
        if (keepalive != null) {
            keepalive(client);
        }
        client.closeFuture().addListener(f -> {
            clients.remove(client);
            counters.increment(Counter.CONNECTIONS_CLOSED);
            onClose.run();
        });
        if (idleTimeoutMillis > 0) {
            // Reads and writes on the client channel are both directions of the relay.
            client.pipeline().addLast("idle", new IdleStateHandler(0, 0, idleTimeoutMillis, TimeUnit.MILLISECONDS))
                    .addLast("idle-close", new IdleClose());
        }
        client.pipeline().addLast(new ClientSide());
        loop.register(client).addListener(f -> {
            // A socket the client reset before it was adopted registers inactive: channelActive
            // never fires, so close it here or it would stay live forever.
            if (!f.isSuccess() || !client.isActive()) {
                counters.increment(Counter.HANDOFF_FAILED);
                client.close();
            }
        });
    }

    /**
     * The client-facing side: connects the backend when the adopted channel becomes active. The client
     * is not read meanwhile, except that Netty's epoll transport always listens for EPOLLRDHUP and
     * reads on it: a request and FIN that arrive before the backend is connected (a client that
     * writes and closes at once) are read here. They are kept and replayed into the relay, or the
     * request would be lost and the relay would wait forever for a FIN it had already consumed.
     */
    private final class ClientSide extends ChannelInboundHandlerAdapter {
        private Pump pump;
        private final java.util.ArrayDeque<Object> early = new java.util.ArrayDeque<>();
        private boolean earlyInputShutdown;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            early.add(msg);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                earlyInputShutdown = true;
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            if (pump == null) {
                releaseEarly();
            }
        }

        private void releaseEarly() {
            Object msg;
            while ((msg = early.poll()) != null) {
                io.netty.util.ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws IOException {
            Channel client = ctx.channel();
            EpollRegistrationPin.pin(client);
            Bootstrap b = new Bootstrap()
                    .group(client.eventLoop())
                    .channel(EpollSocketChannel.class)
                    .option(ChannelOption.AUTO_READ, false)
                    .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMillis)
                    .handler(new ChannelInboundHandlerAdapter());
            if (keepalive != null) {
                b.option(ChannelOption.SO_KEEPALIVE, true)
                        .option(EpollChannelOption.TCP_KEEPIDLE, keepalive.idleSeconds())
                        .option(EpollChannelOption.TCP_KEEPINTVL, keepalive.intervalSeconds())
                        .option(EpollChannelOption.TCP_KEEPCNT, keepalive.count());
            }
            b.connect(backend).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess()) {
                    counters.increment(Counter.BACKEND_CONNECT_FAILED);
                    countConnectFailure(f.cause());
                    releaseEarly();
                    client.close();
                    return;
                }
                Channel server = f.channel();
                if (!client.isActive()) {
                    // The client went away while the backend was connecting: this handler has already left
                    // the closed client's pipeline, so there is nothing to relay into.
                    releaseEarly();
                    server.close();
                    return;
                }
                EpollRegistrationPin.pin(server);
                pump = new Pump(server, Counter.BYTES_TO_BACKEND);
                Pump back = new Pump(client, Counter.BYTES_TO_CLIENT);
                server.pipeline().replace(server.pipeline().first(), "relay", back);
                back.peerPump = pump;
                pump.peerPump = back;
                server.closeFuture().addListener(c -> closeOnFlush(client));
                client.closeFuture().addListener(c -> closeOnFlush(server));
                client.pipeline().replace(this, "relay", pump);
                if (proxyProtocol != ProxyProtocol.OFF) {
                    sendProxyHeader(client, server);
                }
                // What arrived before the backend was connected goes first, in order, then the FIN if it came.
                Object msg;
                boolean replayed = false;
                while ((msg = early.poll()) != null) {
                    client.pipeline().fireChannelRead(msg);
                    replayed = true;
                }
                if (replayed) {
                    // The pump writes on channelRead and flushes on channelReadComplete.
                    client.pipeline().fireChannelReadComplete();
                }
                if (earlyInputShutdown) {
                    client.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                }
                client.read();
                server.read();
            });
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            // Closed before the backend answered: the connect's own listener cleans up the backend.
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /** Moves bytes from the channel it is installed on to {@code outbound}. */
    private final class Pump extends ChannelInboundHandlerAdapter {
        private final Channel outbound;
        private final Counter bytes;
        private Pump peerPump;
        private boolean inputDone;

        Pump(Channel outbound, Counter bytes) {
            this.outbound = outbound;
            this.bytes = bytes;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ByteBuf buf) {
                counters.add(bytes, buf.readableBytes());
            }
            outbound.write(msg).addListener((ChannelFutureListener) f -> {
                if (f.isSuccess()) {
                    ctx.channel().read();
                } else {
                    f.channel().close();
                    ctx.channel().close();
                }
            });
        }

        /**
         * Flushes after this turn of the event loop rather than now. Netty reports a FIN read together with the
         * data only after channelReadComplete; flushed here, the data would leave without it, a client that
         * closes on the last response byte (wrk, curl, any HTTP/1.0 client) would close first and keep the
         * TIME_WAIT the backend took on a direct connection: thousands of them exhaust a busy client's ports.
         */
        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (!flushScheduled) {
                flushScheduled = true;
                ctx.channel().eventLoop().execute(flush);
            }
        }

        private boolean flushScheduled;
        private final Runnable flush = this::flushNow;

        private void flushNow() {
            flushScheduled = false;
            outbound.flush();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                inputDone = true;
                // Pass the FIN on after everything read so far, corked so that the last data and the FIN
                // leave in one segment, as they arrived.
                boolean corked = cork(outbound, true);
                outbound.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f -> {
                    if (outbound instanceof DuplexChannel duplex && outbound.isActive()) {
                        duplex.shutdownOutput();
                    }
                    if (corked) {
                        cork(outbound, false);
                    }
                    if (peerPump != null && peerPump.inputDone) {
                        ctx.channel().close();
                        outbound.close();
                    }
                });
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closeOnFlush(outbound);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // This pump reads the channel that failed: the backend when it relays towards the client.
            counters.increment(bytes == Counter.BYTES_TO_CLIENT ? Counter.BACKEND_RESET : Counter.CLIENT_RESET);
            ctx.close();
            // The relay is broken: no flush first (a peer that does not read would hold it open forever);
            // what already reached the kernel is still sent before the FIN.
            outbound.close();
        }
    }

    /** Sets TCP_CORK; false when the channel is no open epoll socket or the kernel refused. */
    private static boolean cork(Channel ch, boolean on) {
        if (!(ch instanceof EpollSocketChannel epoll) || !epoll.isActive()) {
            return false;
        }
        try {
            epoll.config().setTcpCork(on);
            return true;
        } catch (io.netty.channel.ChannelException e) {
            return false;
        }
    }

    /** How long a closing side may take to accept what is still queued for it before it is closed anyway. */
    static final long CLOSE_FLUSH_LINGER_SECONDS = 10;

    static void closeOnFlush(Channel ch) {
        if (ch.isActive()) {
            ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            if (!ch.closeFuture().isDone()) {
                // A peer that stopped reading would keep the flush, and the descriptor, forever.
                var forced = ch.eventLoop().schedule(() -> {
                    ch.close();
                }, CLOSE_FLUSH_LINGER_SECONDS, TimeUnit.SECONDS);
                ch.closeFuture().addListener(f -> forced.cancel(false));
            }
        } else if (ch.isOpen()) {
            ch.close();
        }
    }

    /** Starts every backend connection with a PROXY protocol header carrying the client's address. */
    public Relay proxyProtocol(ProxyProtocol v) {
        proxyProtocol = v;
        return this;
    }

    /** TCP keepalive on both legs ({@code null}: off, the kernel default). */
    public Relay keepalive(Keepalive v) {
        keepalive = v;
        return this;
    }

    private void keepalive(EpollSocketChannel ch) {
        ch.config().setKeepAlive(true);
        ch.config().setOption(EpollChannelOption.TCP_KEEPIDLE, keepalive.idleSeconds());
        ch.config().setOption(EpollChannelOption.TCP_KEEPINTVL, keepalive.intervalSeconds());
        ch.config().setOption(EpollChannelOption.TCP_KEEPCNT, keepalive.count());
    }

    /**
     * Writes the header before any relayed byte (the client is not read until this has been queued):
     * source is the client, destination the address and port the client connected to. The encoder is
     * in the pipeline only for this one write: written from the event loop, it has run when write returns.
     */
    private void sendProxyHeader(Channel client, Channel server) {
        InetSocketAddress src = (InetSocketAddress) client.remoteAddress();
        InetSocketAddress dst = (InetSocketAddress) client.localAddress();
        HAProxyProxiedProtocol family = src.getAddress() instanceof Inet4Address
                ? HAProxyProxiedProtocol.TCP4 : HAProxyProxiedProtocol.TCP6;
        HAProxyMessage header = new HAProxyMessage(
                proxyProtocol == ProxyProtocol.V1 ? HAProxyProtocolVersion.V1 : HAProxyProtocolVersion.V2,
                HAProxyCommand.PROXY, family, src.getAddress().getHostAddress(), dst.getAddress().getHostAddress(),
                src.getPort(), dst.getPort());
        server.pipeline().addFirst("proxy-protocol", HAProxyMessageEncoder.INSTANCE);
        server.writeAndFlush(header).addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                f.channel().close();
                client.close();
            }
        });
        server.pipeline().remove("proxy-protocol");
    }
}
