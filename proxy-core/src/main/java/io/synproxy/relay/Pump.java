package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.concurrent.Future;
import io.synproxy.metrics.Counters;

/**
 * The copy pump: moves Netty buffers from the channel it is installed on to the direction's output. The input is
 * read with auto-read on, so a request/response exchange costs no epoll_ctl(2) call per message; reading stops
 * (back-pressure) only while the output's queue is above its high water mark, and starts again once everything
 * written has left it. In {@link RelayMode#AUTO} it hands the direction over to splice(2) once reads keep filling
 * their buffers: it stops reading, and splice takes over when no write is in flight.
 */
final class Pump extends ChannelInboundHandlerAdapter {
    /** A read at least this big that filled its buffer is a sign of a bulk stream. */
    static final int FULL_READ_BYTES = 16 << 10;
    /** Consecutive full reads before a direction switches to splice. */
    static final int FULL_READS_TO_SPLICE = 8;

    private final Direction dir;
    private final Counters counters;
    private final Splicer splicer;
    private final Runnable flush = this::flushNow;
    private final ChannelFutureListener written = this::written;
    private ChannelHandlerContext ctx;
    private boolean flushScheduled;
    private int fullReads;
    private int writesInFlight;
    /** Reading stopped: the output's queue was full (resumed when it empties), or splice is to take over. */
    private boolean paused;
    private boolean toSplice;

    /** @param splicer switches this direction to splice, or null to stay a copy pump */
    Pump(Direction dir, Counters counters, Splicer splicer) {
        this.dir = dir;
        this.counters = counters;
        this.splicer = splicer;
    }

    /** True when a run of reads says this direction streams (pure, for tests). */
    static boolean streaming(int fullReads) {
        return fullReads >= FULL_READS_TO_SPLICE;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf buf) {
            int n = buf.readableBytes();
            counters.add(dir.bytes, n);
            fullReads = n >= FULL_READ_BYTES && buf.writableBytes() == 0 ? fullReads + 1 : 0;
        }
        dir.touch();
        dir.beforeWrite();
        writesInFlight++;
        dir.out.write(msg).addListener(written);
        if (splicer != null && streaming(fullReads) && !toSplice) {
            toSplice = true;
            pause();
        } else if (!dir.out.isWritable()) {
            pause();
        }
    }

    private void pause() {
        if (!paused) {
            paused = true;
            ctx.channel().config().setAutoRead(false);
        }
    }

    private void written(Future<? super Void> f) {
        writesInFlight--;
        if (!f.isSuccess()) {
            dir.out.close();
            ctx.channel().close();
            return;
        }
        if (writesInFlight > 0 || !paused || !ctx.channel().isActive() || dir.inputDone) {
            return;
        }
        paused = false;
        if (toSplice) {
            splicer.splice(dir, ctx);
        } else {
            ctx.channel().config().setAutoRead(true);
        }
    }

    /**
     * Flushes after this turn of the event loop rather than now. Netty reports a FIN read together with the
     * data only after channelReadComplete; flushed here, the data would leave without it, a client that
     * closes on the last response byte (wrk, curl, any HTTP/1.0 client) would close first and keep the
     * TIME_WAIT the backend took on a direct connection: thousands of them exhaust a busy client's ports.
     * Flushing at once unless this read ended with the FIN does not do: Netty handles EPOLLRDHUP after EPOLLIN, so a
     * FIN that came with the data is read by a second read pass, after the data's channelReadComplete (tried: 0 of
     * 100 FINs left with the data, against 87 of 100).
     */
    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!flushScheduled) {
            flushScheduled = true;
            ctx.channel().eventLoop().execute(flush);
        }
    }

    private void flushNow() {
        flushScheduled = false;
        dir.out.flush();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            // Nothing more to read. Netty keeps EPOLLIN on a half-closed input while auto-read is on, and the loop
            // then wakes once more only to read the FIN again.
            ctx.channel().config().setAutoRead(false);
            // A FIN is a segment too: a server that closes without a word sends the client its first one here.
            dir.beforeWrite();
            passFin(dir);
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    /**
     * Passes the FIN on after everything written so far, so that the last data and the FIN leave in one segment, as
     * they arrived: what is queued is sent with MSG_MORE and the FIN goes out on it ({@link Closing#sendQueuedMore}),
     * or, when the kernel does not take all of it now, corked and flushed by Netty (the FIN itself releases the cork's
     * hold).
     */
    static void passFin(Direction dir) {
        Channel out = dir.out;
        // Nothing queued: everything read has reached the kernel already, no segment to merge the FIN with.
        if (queued(out) == 0 || Closing.sendQueuedMore(out)) {
            Closing.shutdownOutput(out);
            dir.finished();
            return;
        }
        Closing.cork(out);
        out.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f -> {
            // Everything written before it has left Netty's queue: the FIN follows it. No uncork after: the FIN goes
            // onto the last unsent segment, and a segment with FIN is sent whatever the cork (tcp_send_fin pushes it
            // with TCP_NAGLE_OFF, and Nagle's test passes a FIN), as the splice pump's corked FIN already is. Nothing
            // can be written after it.
            Closing.shutdownOutput(out);
            dir.finished();
        });
    }

    /** Bytes written to {@code ch} that Netty has not handed to the kernel yet. */
    static long queued(Channel ch) {
        ChannelOutboundBuffer ob = ch.unsafe().outboundBuffer();
        return ob == null ? 0 : ob.totalPendingWriteBytes();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        // After this side's FIN had gone out, its own FIN is the relay's normal end (Direction#finished).
        Closing.closeOnFlush(dir.out, !dir.peer.inputDone);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        counters.increment(dir.reset);
        ctx.close();
        // The relay is broken: no flush first (a peer that does not read would hold it open forever);
        // what already reached the kernel is still sent before the FIN.
        dir.out.close();
    }

    /** Takes a direction over from the copy pump once it streams. */
    @FunctionalInterface
    interface Splicer {
        /** Called on the loop with no write in flight and auto-read off; {@code ctx} is the copy pump's. */
        void splice(Direction dir, ChannelHandlerContext ctx);
    }
}
