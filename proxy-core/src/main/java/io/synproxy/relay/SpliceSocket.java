package io.synproxy.relay;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.channel.epoll.EpollIoEvent;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.epoll.RelaySocketChannel;
import io.netty.channel.unix.FileDescriptor;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.Future;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;

import java.util.concurrent.RejectedExecutionException;

/**
 * A relayed socket's second descriptor (a dup), registered with the channel's event loop on its own so that the
 * splice pumps learn when it is readable or writable: Netty's registration of the original descriptor stays
 * Netty's, and one descriptor can be in an epoll set only once. Edge-triggered with a fixed interest, so no
 * epoll_ctl call after the first; closed with the channel (the socket lives until both descriptors are closed).
 */
final class SpliceSocket implements EpollIoHandle {
    private static final AttributeKey<SpliceSocket> KEY = AttributeKey.valueOf("synproxy.spliceSocket");
    private static final EpollIoOps INTEREST =
            EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLOUT).with(EpollIoOps.EPOLLRDHUP).with(EpollIoOps.EPOLLET);

    /** The pump reading this socket, if it splices. */
    SplicePump reader;
    /** The pump writing this socket, if it splices. */
    SplicePump writer;
    private final FileDescriptor fd;
    private final EventLoop loop;
    private final Runnable dispatch = this::dispatch;
    private IoRegistration registration;
    private boolean closed;
    private boolean readReady;
    private boolean writeReady;
    private boolean dispatchScheduled;

    private SpliceSocket(int fd, EventLoop loop) {
        this.fd = new FileDescriptor(fd);
        this.loop = loop;
    }

    /** The channel's splice socket, registered on first use. Call on the channel's loop. */
    static SpliceSocket of(Channel ch) throws LinuxException {
        SpliceSocket s = ch.attr(KEY).get();
        if (s != null) {
            return s;
        }
        if (!(ch instanceof AbstractEpollStreamChannel epoll) || !(ch.eventLoop() instanceof IoEventLoop loop)) {
            throw new IllegalStateException("not an epoll channel");
        }
        s = new SpliceSocket(Native.dup(epoll.fd().intValue()), epoll.eventLoop());
        if (epoll instanceof RelaySocketChannel relay) {
            relay.markDuplicated();
        }
        Future<IoRegistration> f = loop.register(s);
        IoRegistration r = f.getNow();
        if (r == null) {
            s.close();
            throw new IllegalStateException("the loop did not register the splice socket at once");
        }
        s.registration = r;
        r.submit(INTEREST);
        ch.attr(KEY).set(s);
        SpliceSocket registered = s;
        ch.closeFuture().addListener(x -> registered.close());
        return s;
    }

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    /**
     * Notes the event and lets the pumps act on it once the loop has handled the rest of this epoll batch, never
     * inside it. Acting at once, a pump that reads the FIN here ends the relay and closes both channels while the
     * batch may still hold Netty's own event for the same socket under the channel's descriptor number (it reports
     * the FIN too); a socket opened later in the same batch (the next handoff, a backend connect) can take that
     * freed number and Netty then hands it the stale event: a connecting backend channel lost its EPOLLRDHUP
     * interest, Netty removed it from epoll and failed the connect with ENOENT, and the client got a bare FIN
     * (HttpIT with splice forced: 3 read errors in 2863 requests). After the batch, no event for a closed
     * descriptor remains.
     */
    @Override
    public void handle(IoRegistration r, IoEvent event) {
        EpollIoOps ops = ((EpollIoEvent) event).ops();
        boolean error = ops.contains(EpollIoOps.EPOLLERR);
        if (error || ops.contains(EpollIoOps.EPOLLOUT)) {
            writeReady = true;
        }
        if (error || ops.contains(EpollIoOps.EPOLLIN) || ops.contains(EpollIoOps.EPOLLRDHUP)) {
            readReady = true;
        }
        if (!dispatchScheduled && (writeReady || readReady)) {
            dispatchScheduled = true;
            try {
                loop.execute(dispatch);
            } catch (RejectedExecutionException e) {
                // The loop is shutting down and closes every channel.
                dispatchScheduled = false;
            }
        }
    }

    private void dispatch() {
        dispatchScheduled = false;
        boolean write = writeReady;
        boolean read = readReady;
        writeReady = false;
        readReady = false;
        if (write && writer != null) {
            writer.writable();
        }
        if (read && reader != null) {
            reader.readable();
        }
    }

    /** True once the descriptor is closed: its number must not be used again. */
    boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        reader = null;
        writer = null;
        if (registration != null) {
            registration.cancel();
        }
        // Closed after the loop has handled the rest of this epoll batch: a number freed now could be taken by a
        // socket opened in the same batch (a backend connect), and an event still queued for the old socket would
        // then be delivered to the new one's registration.
        int number = fd.intValue();
        try {
            loop.execute(() -> Native.close(number));
        } catch (RejectedExecutionException e) {
            Native.close(number);
        }
    }
}
