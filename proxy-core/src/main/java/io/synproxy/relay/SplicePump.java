package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;

import java.util.ArrayDeque;

import static io.synproxy.linux.Constants.EAGAIN;
import static io.synproxy.linux.Constants.SPLICE_F_MOVE;
import static io.synproxy.linux.Constants.SPLICE_F_NONBLOCK;

/**
 * The zero-copy pump: one direction moved socket to pipe to socket with splice(2), the pages never copied
 * to user space. The direction's input is read into the pipe until the socket is empty or the pipe holds
 * {@link PipePool#pipeBytes()} (the back-pressure bound: a slow output stops the input), then the pipe is drained
 * into the output until it would block; epoll (edge-triggered, through {@link SpliceSocket}) says when to go on.
 *
 * <p>Netty still owns both channels (close, FIN events, errors) and, because its epoll transport reads on
 * EPOLLRDHUP whatever the read interest, may still hand this pump a buffer it read itself; such buffers are
 * written through Netty in order: never while the pipe holds older bytes, and the pipe is not drained into the
 * output while Netty has bytes queued for it. The FIN is passed on once the pipe is empty, corked with the last
 * data as the copy pump does. A splice error other than a broken connection sends an empty pipe's direction back
 * to the copy pump.
 */
final class SplicePump extends ChannelInboundHandlerAdapter {
    private static final int FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
    private static final int EINTR = 4;
    private static final int EPIPE = 32;
    private static final int ECONNRESET = 104;
    private static final int ETIMEDOUT = 110;
    private static final int EHOSTUNREACH = 113;

    private final Direction dir;
    private final PipePool pool;
    private final Counters counters;
    private final SpliceSocket src;
    private final SpliceSocket dst;
    private final int max;
    private final ArrayDeque<ByteBuf> held = new ArrayDeque<>(2);
    private final Runnable flush = this::flushNow;
    private PipePool.Pipe pipe;
    private ChannelHandlerContext ctx;
    private int inPipe;
    private int nettyWrites;
    private boolean srcReadable = true;
    private boolean dstWritable = true;
    private boolean srcEof;
    private boolean finSeen;
    private boolean finPassed;
    private boolean corked;
    private boolean flushScheduled;
    private boolean stopped;

    private SplicePump(Direction dir, PipePool pool, Counters counters, SpliceSocket src, SpliceSocket dst,
                       PipePool.Pipe pipe) {
        this.dir = dir;
        this.pool = pool;
        this.counters = counters;
        this.src = src;
        this.dst = dst;
        this.pipe = pipe;
        this.max = pipe.capacity();
    }

    /**
     * Replaces the direction's copy pump ({@code copyPump}, with no write in flight) with a splice pump and starts
     * it; false (the copy pump stays) when no pipe or epoll registration could be had.
     */
    static boolean start(Direction dir, ChannelHandlerContext copyPump, PipePool pool, Counters counters) {
        SpliceSocket src;
        SpliceSocket dst;
        PipePool.Pipe pipe;
        try {
            src = SpliceSocket.of(dir.in);
            dst = SpliceSocket.of(dir.out);
            pipe = pool.acquire();
        } catch (LinuxException | RuntimeException e) {
            counters.increment(Counter.SPLICE_FALLBACK);
            return false;
        }
        SplicePump p = new SplicePump(dir, pool, counters, src, dst, pipe);
        src.reader = p;
        dst.writer = p;
        // Netty no longer reads the input: its FIN is the splice pump's to pass on (Direction#finished).
        dir.spliced = true;
        dir.in.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        copyPump.pipeline().replace(copyPump.handler(), "relay", p);
        counters.increment(Counter.SPLICED);
        if (Pump.queued(dir.out) > 0) {
            // Bytes the copy pump (or the PROXY header) left in Netty's queue go first.
            p.nettyWrites++;
            dir.out.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(p.nettyWritten());
        }
        p.pump();
        return true;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /** The input socket has news (data, FIN or an error). */
    void readable() {
        srcReadable = true;
        pump();
    }

    /** The output socket has room again. */
    void writable() {
        dstWritable = true;
        pump();
    }

    private void pump() {
        if (stopped) {
            return;
        }
        if (src.isClosed() || dst.isClosed()) {
            // A leg has closed and its second descriptor with it: that number may already name another socket.
            stop();
            return;
        }
        boolean moved;
        do {
            moved = false;
            boolean filled = false;
            while (!srcEof && srcReadable && inPipe < max) {
                long n = Native.splice(src.fd().intValue(), pipe.writeFd(), max - inPipe, FLAGS);
                if (n > 0) {
                    inPipe += (int) n;
                    counters.add(dir.bytes, n);
                    filled = true;
                } else if (n == 0) {
                    srcEof = true;
                } else if (n == -EAGAIN) {
                    srcReadable = false;
                } else if (n != -EINTR) {
                    failed((int) -n, true);
                    return;
                }
            }
            if (filled) {
                dir.touch();
                moved = true;
            }
            if (srcEof && inPipe > 0 && !corked) {
                // The last data and the FIN leave together, as they arrived.
                corked = Closing.cork(dir.out);
            }
            while (inPipe > 0 && dstWritable && nettyWrites == 0) {
                long n = Native.splice(pipe.readFd(), dst.fd().intValue(), inPipe, FLAGS);
                if (n > 0) {
                    inPipe -= (int) n;
                    moved = true;
                } else if (n == -EAGAIN) {
                    dstWritable = false;
                } else if (n != -EINTR) {
                    failed(n == 0 ? EPIPE : (int) -n, false);
                    return;
                }
            }
        } while (moved && !srcEof && srcReadable && inPipe < max);
        if (inPipe == 0) {
            writeHeld();
            if ((srcEof || finSeen) && held.isEmpty() && !finPassed) {
                finPassed = true;
                Pump.passFin(dir);
            }
        }
    }

    /** A splice failed with {@code errno}: a broken connection ends the relay, anything else goes back to copying. */
    private void failed(int errno, boolean reading) {
        boolean broken = errno == EPIPE || errno == ECONNRESET || errno == ETIMEDOUT || errno == EHOSTUNREACH;
        if (broken || inPipe > 0) {
            if (reading) {
                counters.increment(dir.reset);
            }
            // Bytes still in the pipe cannot be delivered in order any more: the relay ends.
            dir.in.close();
            dir.out.close();
            return;
        }
        counters.increment(Counter.SPLICE_FALLBACK);
        stop();
        Pump copy = new Pump(dir, counters, null);
        ctx.pipeline().replace(this, "relay", copy);
        if (srcEof || finSeen) {
            Pump.passFin(dir);
        } else {
            dir.in.config().setAutoRead(true);
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf buf) || stopped) {
            ReferenceCountUtil.release(msg);
            return;
        }
        counters.add(dir.bytes, buf.readableBytes());
        dir.touch();
        if (inPipe == 0 && held.isEmpty()) {
            writeNetty(buf);
        } else {
            held.add(buf);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        // Flushed on the next turn, after Netty has reported a FIN read with the data (see Pump).
        if (!flushScheduled) {
            flushScheduled = true;
            ctx.channel().eventLoop().execute(flush);
        }
    }

    private void flushNow() {
        flushScheduled = false;
        dir.out.flush();
    }

    private void writeHeld() {
        ByteBuf buf;
        boolean wrote = false;
        while ((buf = held.poll()) != null) {
            writeNetty(buf);
            wrote = true;
        }
        if (wrote) {
            dir.out.flush();
        }
    }

    private void writeNetty(ByteBuf buf) {
        nettyWrites++;
        dir.out.write(buf).addListener(nettyWritten());
    }

    private ChannelFutureListener nettyWritten() {
        return f -> {
            nettyWrites--;
            if (!f.isSuccess()) {
                dir.out.close();
                dir.in.close();
            } else if (nettyWrites == 0) {
                pump();
            }
        };
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            finSeen = true;
            pump();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        stop();
        Closing.closeOnFlush(dir.out, !dir.peer.inputDone);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        stop();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        counters.increment(dir.reset);
        ctx.close();
        dir.out.close();
    }

    /** Leaves the sockets' events, returns the pipe (closed if it may hold bytes), drops what was held. */
    private void stop() {
        if (stopped) {
            return;
        }
        stopped = true;
        if (src.reader == this) {
            src.reader = null;
        }
        if (dst.writer == this) {
            dst.writer = null;
        }
        if (pipe != null) {
            pool.release(pipe, inPipe == 0);
            pipe = null;
        }
        ByteBuf buf;
        while ((buf = held.poll()) != null) {
            buf.release();
        }
    }
}
