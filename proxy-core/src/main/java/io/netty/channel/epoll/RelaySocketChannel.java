package io.netty.channel.epoll;

import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.unix.SocketStates;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.Executor;

/**
 * Netty's {@link EpollSocketChannel} for a relay's two legs, without the system calls a relay does not need: each
 * costs about 1 us here, and Netty's channel makes six per connection that this one does not. Its config does not
 * read SO_SNDBUF to size gathering writes (twice the send buffer, once per process here: {@link RelaySocketChannelConfig});
 * an adopted socket is given both addresses instead of asking getsockname; a connected one asks for its local address
 * only if someone wants it; a backend's connect is made before registration ({@link #connectNow()}); and closing does
 * not read SO_LINGER, which a relay never sets. What is left: the family (Netty's socket asks getsockname in its
 * constructor), and, when Netty finishes a connect on EPOLLOUT (a remote backend), SO_ERROR and getpeername.
 *
 * <p>Lives in Netty's package because its base's constructors and the socket are package private. No TCP_FASTOPEN
 * connect and no TCP_MD5SIG: a relay uses neither.
 */
public final class RelaySocketChannel extends AbstractEpollStreamChannel implements SocketChannel {
    private final RelaySocketChannelConfig config;
    private volatile InetSocketAddress local;
    private final InetSocketAddress peer;
    private boolean connectStarted;
    private boolean duplicated;

    /** A new, unconnected socket of {@code family} (the backend's leg), TCP_NODELAY on. */
    public RelaySocketChannel(SocketProtocolFamily family) {
        this(family, null);
    }

    /**
     * A new, unconnected socket of {@code family} for a connection to {@code peer} (the backend's leg, see
     * {@link #connectNow()}), TCP_NODELAY on.
     */
    public RelaySocketChannel(SocketProtocolFamily family, InetSocketAddress peer) {
        super(LinuxSocket.newSocketStream(family), false);
        this.peer = peer;
        this.config = new RelaySocketChannelConfig(this, true);
    }

    /**
     * A connected socket whose ends are known (a handed-off one): the channel owns {@code fd} from here on.
     *
     * @param noDelayOn the socket has TCP_NODELAY on already (the handoff sets it); otherwise it is set here
     */
    public RelaySocketChannel(int fd, InetSocketAddress local, InetSocketAddress peer, boolean noDelayOn) {
        super(new LinuxSocket(fd), false);
        this.local = local;
        this.peer = peer;
        this.active = true;
        this.config = new RelaySocketChannelConfig(this, !noDelayOn);
    }

    LinuxSocket socket() {
        return socket;
    }

    /**
     * Starts the connect to the peer given at construction before the channel is registered, and says whether it is
     * already established. To a backend on this host it is: loopback runs the whole handshake within connect(2),
     * which returns EINPROGRESS only because the SYN/ACK waits in the socket's backlog until the call releases the
     * socket; a second connect(2) then finds the connection made and returns 0. Netty's connect would instead
     * register for EPOLLOUT, wait for the loop to see it, read SO_ERROR, take EPOLLOUT off again, ask getpeername and
     * submit the registration once more: five calls and a loop turn per connection, against one here.
     *
     * <p>Established, the channel is active from here on (register it; no {@code connect()}). Otherwise the connect
     * is in progress (a remote backend): finish it with Netty's {@code connect()} to the same peer, which then waits
     * for EPOLLOUT without a second connect(2) of its own.
     *
     * @throws IOException the connect failed at once (a backend on this host refused it); the channel is not
     *                     registered, close it with {@code unsafe().closeForcibly()}
     */
    public boolean connectNow() throws IOException {
        if (peer == null || isRegistered() || connectStarted) {
            throw new IllegalStateException("connectNow() needs a peer, once, before registration");
        }
        connectStarted = true;
        boolean established = socket.connect(peer) || socket.connect(peer);
        if (established) {
            active = true;
        }
        return established;
    }

    /**
     * Asks epoll for reads in the channel's first epoll_ctl: call before it is registered, with auto-read on. Netty
     * would otherwise add them with an epoll_ctl of their own as soon as the channel is active.
     */
    public void readFromRegistration() throws IOException {
        setFlag(EpollIoOps.EPOLLIN.value());
    }

    @Override
    public InetSocketAddress remoteAddress() {
        return (InetSocketAddress) super.remoteAddress();
    }

    @Override
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) super.localAddress();
    }

    @Override
    protected SocketAddress localAddress0() {
        InetSocketAddress l = local;
        if (l == null && socket.isOpen()) {
            try {
                l = socket.localAddress();
                local = l;
            } catch (RuntimeException e) {
                return null;
            }
        }
        return l;
    }

    @Override
    protected SocketAddress remoteAddress0() {
        return peer != null ? peer : super.remoteAddress0();
    }

    @Override
    public RelaySocketChannelConfig config() {
        return config;
    }

    @Override
    public ServerSocketChannel parent() {
        return null;
    }

    /** Netty's connect without its getsockname afterwards: the local address is asked for when wanted. */
    @Override
    protected boolean doConnect(SocketAddress remoteAddress, SocketAddress localAddress) throws Exception {
        if (connectStarted) {
            // connectNow() has called connect(2), and a second one would only say EALREADY: wait for EPOLLOUT.
            setFlag(Native.EPOLLOUT);
            return false;
        }
        if (localAddress != null) {
            socket.bind(localAddress);
        }
        return doConnect0(remoteAddress);
    }

    /**
     * Another descriptor of this socket exists (the splice socket's dup): closing the channel's own then no longer
     * takes it out of the epoll set, so {@link #doClose()} leaves the removal to Netty.
     */
    public void markDuplicated() {
        duplicated = true;
    }

    /**
     * Closes the descriptor before Netty deregisters it: the kernel then takes it out of the epoll set itself, and
     * Netty skips its EPOLL_CTL_DEL for a closed descriptor (EpollIoHandler). One system call less per leg. Only
     * while the socket has no other descriptor ({@link #markDuplicated()}): epoll drops an entry when the last
     * reference to the open file goes. The one other holder is a child process being started (nft, at start and
     * stop), which has copies until it closes them before its exec; an event of the closed socket seen meanwhile
     * reaches whatever channel holds the number then as a spurious wake-up (a read that finds nothing), never as data.
     */
    @Override
    protected void doClose() throws Exception {
        if (!duplicated && isRegistered() && eventLoop().inEventLoop()) {
            socket.close();
        }
        super.doClose();
    }

    @Override
    protected AbstractEpollUnsafe newUnsafe() {
        return new RelayUnsafe();
    }

    private final class RelayUnsafe extends EpollStreamUnsafe {
        /** A relay never sets SO_LINGER: no close needs another thread, and no getsockopt asks. */
        @Override
        protected Executor prepareToClose() {
            return null;
        }

        /**
         * The peer's FIN, with half-closure on: Netty's own calls shutdown(2) SHUT_RD, then takes EPOLLRDHUP off in an
         * epoll_ctl, and the pump's stop takes EPOLLIN off in another. Here the input is only marked shut down
         * ({@link SocketStates#markInputShutdown}) and both flags go in one epoll_ctl: nothing is left to read, and
         * a level-triggered EOF would wake the loop again. The event and what follows are Netty's.
         */
        @Override
        void shutdownInput(boolean allDataRead) {
            if (isRegistered() && config.isAllowHalfClosure() && !socket.isInputShutdown()) {
                SocketStates.markInputShutdown(socket);
                readPending = false;
                try {
                    clearFlag(Native.EPOLLIN | Native.EPOLLRDHUP);
                } catch (IOException | RuntimeException e) {
                    pipeline().fireExceptionCaught(e);
                    close(voidPromise());
                    return;
                }
                pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
            }
            // Input already marked: only the read-complete event is left to Netty (or the close, half-closure off).
            super.shutdownInput(allDataRead);
        }
    }
}
