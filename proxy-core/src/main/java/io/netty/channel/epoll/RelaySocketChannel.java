package io.netty.channel.epoll;

import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.Executor;

/**
 * Netty's {@link EpollSocketChannel} for a relay's two legs, without the system calls a relay does not need: each
 * costs about 1 us here, and Netty's channel makes six per connection that this one does not. Its config does not
 * read SO_SNDBUF to size gathering writes (twice the send buffer, once per process here: {@link RelaySocketChannelConfig});
 * an adopted socket is given both addresses instead of asking getsockname; a connected one asks for its local address
 * only if someone wants it; and closing does not read SO_LINGER, which a relay never sets. What is left: the family
 * (Netty's socket asks getsockname in its constructor) and the peer's address after a connect (getpeername).
 *
 * <p>Lives in Netty's package because its base's constructors and the socket are package private. No TCP_FASTOPEN
 * connect and no TCP_MD5SIG: a relay uses neither.
 */
public final class RelaySocketChannel extends AbstractEpollStreamChannel implements SocketChannel {
    private final RelaySocketChannelConfig config;
    private volatile InetSocketAddress local;
    private final InetSocketAddress peer;

    /** A new, unconnected socket of {@code family} (the backend's leg), TCP_NODELAY on. */
    public RelaySocketChannel(SocketProtocolFamily family) {
        super(LinuxSocket.newSocketStream(family), false);
        this.peer = null;
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
        if (localAddress != null) {
            socket.bind(localAddress);
        }
        return doConnect0(remoteAddress);
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
    }
}
