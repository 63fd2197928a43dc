package io.synproxy.relay;

import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoEvent;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;

import java.io.IOException;

/**
 * One socket of a relayed connection, registered with the loop's epoll as a handle of its own, edge-triggered as
 * Netty's own channels are: EPOLLHUP, which epoll reports whatever the interest, would otherwise wake the loop again
 * and again while the data before it waits for the other socket to take it. So each direction reads until the input
 * is empty (a short read of a socket counts: data that comes later raises a new edge) or the output is full, and
 * goes on reading by itself once the output has room again.
 *
 * <p>It reads for the direction it is the input of ({@link #reader}) and writes for the one it is the output of
 * ({@link #writer}); its interest is whatever those two want at the moment, changed with one epoll_ctl only when it
 * changes. EPOLLERR is always in it: Netty 4.2.18 removes a descriptor whose interest becomes empty from epoll
 * (EPOLL_CTL_DEL) but keeps it marked as added, so its next change, an EPOLL_CTL_MOD, fails with ENOENT (seen: half of
 * the 10 MB half-close transfers of RelayIT cut short, when the relay was Netty channels); epoll reports errors
 * anyway.
 */
final class Leg implements EpollIoHandle {
    static final int ERR = EpollIoOps.EPOLLERR.value();
    static final int IN = EpollIoOps.EPOLLIN.value();
    static final int OUT = EpollIoOps.EPOLLOUT.value();
    static final int RDHUP = EpollIoOps.EPOLLRDHUP.value();
    /** EPOLLHUP, which epoll reports whatever the interest (Netty has no constant for it). */
    static final int HUP = 0x10;
    private static final EpollIoOps ONLY_ERR = EpollIoOps.EPOLLERR.with(EpollIoOps.EPOLLET);
    private static final EpollIoOps READ = ONLY_ERR.with(EpollIoOps.EPOLLIN).with(EpollIoOps.EPOLLRDHUP);
    private static final EpollIoOps WRITE = ONLY_ERR.with(EpollIoOps.EPOLLOUT);
    private static final EpollIoOps BOTH = READ.with(EpollIoOps.EPOLLOUT);

    final RelayConnection conn;
    final int fd;
    /** The direction this socket is the input of, and the one it is the output of. */
    Flow reader;
    Flow writer;
    private final Descriptor descriptor;
    private IoRegistration registration;
    private EpollIoOps interest;

    Leg(RelayConnection conn, int fd) {
        this.conn = conn;
        this.fd = fd;
        this.descriptor = new Descriptor(fd);
    }

    /** Joins the loop's epoll with {@code first} as its interest, in one epoll_ctl; false if the loop refused. */
    boolean register(IoEventLoop loop, boolean read, boolean write) {
        try {
            registration = loop.register(this).getNow();
        } catch (RuntimeException e) {
            return false;
        }
        if (registration == null) {
            return false;
        }
        want(read, write);
        return true;
    }

    /** Sets the interest to what the two directions through this socket want now. */
    void update() {
        if (this == conn.server && !conn.connected()) {
            want(false, true);
            return;
        }
        // An input that has ended keeps its EPOLLIN: no edge comes after the FIN, and taking it off would cost an
        // epoll_ctl per connection.
        want(reader.wantsRead() || reader.inEof, writer.wantsWrite());
    }

    /** Sets the interest, with an epoll_ctl only when it changes. */
    void want(boolean read, boolean write) {
        EpollIoOps ops = read ? (write ? BOTH : READ) : (write ? WRITE : ONLY_ERR);
        if (ops != interest && registration != null && registration.isValid() && descriptor.isOpen()) {
            interest = ops;
            registration.submit(ops);
        }
    }

    @Override
    public FileDescriptor fd() {
        return descriptor;
    }

    @Override
    public void handle(IoRegistration r, IoEvent event) {
        conn.event(this, ((EpollIoEvent) event).ops().value());
    }

    boolean isOpen() {
        return descriptor.isOpen();
    }

    /**
     * Drops the registration of a descriptor that was closed by other means (the relay's batch of closes through
     * io_uring): marked closed first, so that Netty makes no EPOLL_CTL_DEL for it.
     */
    void closedElsewhere() {
        descriptor.markClosedElsewhere();
        if (registration != null) {
            registration.cancel();
        }
    }

    /**
     * Closes the descriptor, then drops the registration: epoll forgets a closed descriptor by itself, and Netty,
     * seeing it closed, makes no EPOLL_CTL_DEL. Netty also calls this for a handle still registered when its loop
     * shuts down.
     */
    @Override
    public void close() {
        close(descriptor, registration);
    }

    /** Closes {@code descriptor} if it is open, then cancels {@code registration} (null: none): see {@link #close()}. */
    static void close(FileDescriptor descriptor, IoRegistration registration) {
        if (descriptor.isOpen()) {
            try {
                descriptor.close();
            } catch (IOException e) {
                // close(2) releases the descriptor even when it reports an error: nothing is left to undo.
            }
        }
        if (registration != null) {
            registration.cancel();
        }
    }

    /** Netty's descriptor, which can be told that it was closed without its own close(2). */
    private static final class Descriptor extends FileDescriptor {
        Descriptor(int fd) {
            super(fd);
        }

        void markClosedElsewhere() {
            markClosed();
        }
    }
}
