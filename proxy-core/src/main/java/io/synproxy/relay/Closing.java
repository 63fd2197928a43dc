package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.epoll.RelaySocketChannel;
import io.netty.channel.socket.DuplexChannel;
import io.synproxy.linux.Native;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

import static io.synproxy.linux.Constants.MSG_MORE;
import static io.synproxy.linux.Constants.MSG_NOSIGNAL;

/** Ending a relay's legs: flush what is queued then close, and the last data held back for the FIN. */
final class Closing {
    /** How long a closing side may take to accept what is still queued for it before it is closed anyway. */
    static final long CLOSE_FLUSH_LINGER_SECONDS = 10;
    private static final int SHUT_WR = 1;

    private Closing() {
    }

    /**
     * Closes {@code ch} once what is queued for it has been written, in a task: the epoll batch being handled may
     * still hold an event for its descriptor (see {@link Direction#finished}). What is queued is corked first, so that
     * the last data leaves with the FIN that close(2) sends, in one segment, as it arrived (the other leg's last read
     * is flushed in a task of this turn too, {@link Pump#channelReadComplete}). A channel whose output is already
     * shut down has nothing left to write: it is closed without a write, because one would fail with an exception
     * (and its stack trace) on every connection that ended with two FINs, the common case.
     *
     * @param lingerLimit close after {@link #CLOSE_FLUSH_LINGER_SECONDS} even if the peer has not taken what is
     *                    queued: the other leg failed. Not at a relay's normal end (both FINs): a slow reader gets
     *                    the rest of its data, as it would have with the FIN alone, and the idle timeout still holds.
     */
    static void closeOnFlush(Channel ch, boolean lingerLimit) {
        if (!ch.isActive()) {
            if (ch.isOpen()) {
                ch.close();
            }
            return;
        }
        if (!outputShutdown(ch) && Pump.queued(ch) > 0) {
            cork(ch);
        }
        try {
            ch.eventLoop().execute(() -> flushAndClose(ch, lingerLimit));
        } catch (RejectedExecutionException e) {
            // The loop is shutting down: no batch follows.
            flushAndClose(ch, lingerLimit);
        }
    }

    private static void flushAndClose(Channel ch, boolean lingerLimit) {
        // Nothing queued (the common end): an empty write would complete at once and close; closing now saves the
        // write's trip through the pipeline, its promise and listener.
        if (!ch.isActive() || outputShutdown(ch) || Pump.queued(ch) == 0) {
            if (ch.isOpen()) {
                ch.close();
            }
            return;
        }
        ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        if (lingerLimit && !ch.closeFuture().isDone()) {
            // A peer that stopped reading would keep the flush, and the descriptor, forever.
            var forced = ch.eventLoop().schedule(() -> {
                ch.close();
            }, CLOSE_FLUSH_LINGER_SECONDS, TimeUnit.SECONDS);
            ch.closeFuture().addListener(f -> forced.cancel(false));
        }
    }

    private static boolean outputShutdown(Channel ch) {
        return ch instanceof DuplexChannel duplex && duplex.isOutputShutdown();
    }

    /**
     * Sends the FIN on {@code ch} (shutdown(2) SHUT_WR), what Netty's {@code shutdownOutput()} does minus the
     * exception it builds, stack trace and all, to fail writes that could still be queued: measured, one per
     * relayed connection was most of the exceptions the relay made. Call only with nothing queued.
     */
    static void shutdownOutput(Channel ch) {
        if (ch instanceof AbstractEpollStreamChannel epoll && epoll.isActive() && !epoll.isOutputShutdown()) {
            Native.shutdown(epoll.fd().intValue(), SHUT_WR);
        } else if (ch instanceof DuplexChannel duplex && ch.isActive() && !duplex.isOutputShutdown()) {
            duplex.shutdownOutput();
        }
    }

    /**
     * Hands what is queued for {@code ch} to the kernel itself, with MSG_MORE: the last segment then waits as under
     * TCP_CORK, for this call only, and the FIN sent next ({@link #shutdownOutput}) goes out on it. It takes the place
     * of a setsockopt(TCP_CORK) and Netty's flush: one system call less per connection, and no empty write with its
     * promise and listener. True when all of it has reached the kernel. False leaves the rest to Netty's flush: a
     * flush already under way, a partial send (the send buffer is full), an error (Netty's write then meets it and
     * reports it), a message that is no buffer or a buffer in more than one native region.
     */
    static boolean sendQueuedMore(Channel ch) {
        if (!(ch instanceof AbstractEpollStreamChannel epoll) || !ch.isActive()) {
            return false;
        }
        ChannelOutboundBuffer queue = ch.unsafe().outboundBuffer();
        if (queue == null || queue.current() != null) {
            // A flush is under way: it waits for EPOLLOUT, and Netty would not take that flag off again if the queue
            // were emptied here (a level-triggered writable socket would then wake the loop until it is closed).
            return false;
        }
        queue.addFlush();
        int fd = epoll.fd().intValue();
        Object msg;
        while ((msg = queue.current()) != null) {
            if (!(msg instanceof ByteBuf buf)) {
                return false;
            }
            int n = buf.readableBytes();
            if (n == 0) {
                queue.remove();
                continue;
            }
            MemorySegment at = nativeRegion(buf, n);
            if (at == null) {
                return false;
            }
            long sent = Native.sendNow(fd, at, n, MSG_MORE | MSG_NOSIGNAL);
            if (sent <= 0) {
                return false;
            }
            // Completes the write's promise once all of the buffer is sent, as Netty's flush does.
            queue.removeBytes(sent);
            if (sent < n) {
                return false;
            }
        }
        return true;
    }

    /** The readable bytes of {@code buf} as one native region, or null when they are not. */
    private static MemorySegment nativeRegion(ByteBuf buf, int n) {
        if (buf.hasMemoryAddress()) {
            return MemorySegment.ofAddress(buf.memoryAddress() + buf.readerIndex());
        }
        if (buf.isDirect() && buf.nioBufferCount() == 1) {
            return MemorySegment.ofBuffer(buf.internalNioBuffer(buf.readerIndex(), n));
        }
        return null;
    }

    /**
     * Sets TCP_CORK; false when the channel is no open epoll socket or the kernel refused. Never taken off: the FIN
     * that follows pushes the corked data out with it (tcp_send_fin sends with Nagle off).
     */
    static boolean cork(Channel ch) {
        if (!ch.isActive()) {
            return false;
        }
        try {
            if (ch instanceof RelaySocketChannel relay) {
                relay.config().setTcpCork(true);
            } else if (ch instanceof EpollSocketChannel epoll) {
                epoll.config().setTcpCork(true);
            } else {
                return false;
            }
            return true;
        } catch (ChannelException e) {
            return false;
        }
    }
}
