package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;

import java.net.ConnectException;
import java.util.ArrayDeque;

/**
 * The client side while the backend connects (the connect starts before the client channel is even
 * registered). The client is read meanwhile: what it sends, and its FIN, are kept and replayed into the relay once
 * the backend is connected, or the request would be lost and the relay would wait forever for a FIN it had already
 * consumed. At most {@link #EARLY_BYTES} are kept: past that, reading stops until the relay starts it again (a
 * client cannot make the proxy hold more than that for a backend that is slow to connect).
 */
final class BackendConnect extends ChannelInboundHandlerAdapter implements ChannelFutureListener {
    /** What may be kept before the backend is connected; reading pauses past it (the copy pump's high water mark). */
    static final int EARLY_BYTES = 64 << 10;
    /** To run before the first data the server sends the client, if the client has sent none (or null). */
    Runnable beforeFirstReply;
    private final Channel client;
    private final Counters counters;
    private final Joiner joiner;
    private final ArrayDeque<Object> early = new ArrayDeque<>(2);
    private int earlyBytes;
    private boolean earlyInputShutdown;
    private boolean joined;

    BackendConnect(Channel client, Counters counters, Joiner joiner) {
        this.client = client;
        this.counters = counters;
        this.joiner = joiner;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        early.add(msg);
        if (msg instanceof ByteBuf buf) {
            earlyBytes += buf.readableBytes();
            if (earlyBytes >= EARLY_BYTES) {
                // The relay turns reading on again once it is joined.
                ctx.channel().config().setAutoRead(false);
            }
        }
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
        if (!joined) {
            releaseEarly();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }

    /** The backend connect's outcome. */
    @Override
    public void operationComplete(ChannelFuture f) {
        if (!f.isSuccess()) {
            counters.increment(Counter.BACKEND_CONNECT_FAILED);
            countConnectFailure(f.cause());
            releaseEarly();
            client.close();
            return;
        }
        Channel server = f.channel();
        if (!client.isActive()) {
            // The client went away while the backend was connecting: nothing to relay into.
            releaseEarly();
            server.close();
            return;
        }
        joined = true;
        joiner.join(client, server, this);
    }

    /**
     * Replays what arrived before the backend was connected, in order, then the FIN if it came. Call once the
     * relay's pump has replaced this handler.
     */
    void replay() {
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
    }

    private void releaseEarly() {
        Object msg;
        while ((msg = early.poll()) != null) {
            ReferenceCountUtil.release(msg);
        }
    }

    /** The connect failure's cause, for the per-cause counter. */
    private void countConnectFailure(Throwable cause) {
        if (cause instanceof ConnectTimeoutException) {
            counters.increment(Counter.BACKEND_TIMEOUT);
        } else if (cause instanceof ConnectException e && e.getMessage() != null && e.getMessage().contains("refused")) {
            counters.increment(Counter.BACKEND_REFUSED);
        }
    }

    /** Turns a connected pair into a relay. */
    @FunctionalInterface
    interface Joiner {
        void join(Channel client, Channel server, BackendConnect early);
    }
}
