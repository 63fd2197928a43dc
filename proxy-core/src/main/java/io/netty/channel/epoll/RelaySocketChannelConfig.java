package io.netty.channel.epoll;

import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelOption;
import io.netty.channel.MessageSizeEstimator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.socket.SocketChannelConfig;

import java.io.IOException;

/**
 * The config of a {@link RelaySocketChannel}: Netty's socket options a relay sets (TCP_NODELAY, on from the start as
 * Netty's own; SO_KEEPALIVE and its three TCP timers; TCP_CORK; half-closure), the rest of
 * {@link SocketChannelConfig} passed to the socket as Netty does. The one difference: the largest gathering write is
 * twice the send buffer a new TCP socket gets here, asked once per process instead of once per socket.
 */
public final class RelaySocketChannelConfig extends EpollChannelConfig implements SocketChannelConfig {
    /** Twice SO_SNDBUF of a new TCP socket (tcp_wmem's default), as Netty computes it per socket; 0 if unknown. */
    private static final long GATHERING_WRITE = gatheringWrite();
    private volatile boolean allowHalfClosure;

    /** @param setNoDelay turn TCP_NODELAY on (false: the socket has it on already) */
    RelaySocketChannelConfig(RelaySocketChannel channel, boolean setNoDelay) {
        super(channel);
        if (setNoDelay) {
            try {
                channel.socket().setTcpNoDelay(true);
            } catch (IOException e) {
                throw new ChannelException(e);
            }
        }
        if (GATHERING_WRITE > 0) {
            setMaxBytesPerGatheringWrite(GATHERING_WRITE);
        }
    }

    private static long gatheringWrite() {
        LinuxSocket probe = null;
        try {
            probe = LinuxSocket.newSocketStream();
            return (long) probe.getSendBufferSize() << 1;
        } catch (IOException | RuntimeException e) {
            return 0;
        } finally {
            if (probe != null) {
                try {
                    probe.close();
                } catch (IOException e) {
                    // nothing to do
                }
            }
        }
    }

    @SuppressWarnings("unchecked")
    @Override
    public <T> T getOption(ChannelOption<T> option) {
        if (option == ChannelOption.TCP_NODELAY) {
            return (T) Boolean.valueOf(isTcpNoDelay());
        }
        if (option == ChannelOption.SO_KEEPALIVE) {
            return (T) Boolean.valueOf(isKeepAlive());
        }
        if (option == ChannelOption.ALLOW_HALF_CLOSURE) {
            return (T) Boolean.valueOf(isAllowHalfClosure());
        }
        if (option == EpollChannelOption.TCP_CORK) {
            return (T) Boolean.valueOf(isTcpCork());
        }
        if (option == EpollChannelOption.TCP_KEEPIDLE) {
            return (T) Integer.valueOf(intOption(() -> socket().getTcpKeepIdle()));
        }
        if (option == EpollChannelOption.TCP_KEEPINTVL) {
            return (T) Integer.valueOf(intOption(() -> socket().getTcpKeepIntvl()));
        }
        if (option == EpollChannelOption.TCP_KEEPCNT) {
            return (T) Integer.valueOf(intOption(() -> socket().getTcpKeepCnt()));
        }
        return super.getOption(option);
    }

    @Override
    public <T> boolean setOption(ChannelOption<T> option, T value) {
        validate(option, value);
        if (option == ChannelOption.TCP_NODELAY) {
            setTcpNoDelay((Boolean) value);
        } else if (option == ChannelOption.SO_KEEPALIVE) {
            setKeepAlive((Boolean) value);
        } else if (option == ChannelOption.ALLOW_HALF_CLOSURE) {
            setAllowHalfClosure((Boolean) value);
        } else if (option == EpollChannelOption.TCP_CORK) {
            setTcpCork((Boolean) value);
        } else if (option == EpollChannelOption.TCP_KEEPIDLE) {
            set(() -> socket().setTcpKeepIdle((Integer) value));
        } else if (option == EpollChannelOption.TCP_KEEPINTVL) {
            set(() -> socket().setTcpKeepIntvl((Integer) value));
        } else if (option == EpollChannelOption.TCP_KEEPCNT) {
            set(() -> socket().setTcpKeepCnt((Integer) value));
        } else {
            return super.setOption(option, value);
        }
        return true;
    }

    @FunctionalInterface
    private interface IntCall {
        int call() throws IOException;
    }

    @FunctionalInterface
    private interface SetCall {
        void call() throws IOException;
    }

    private static int intOption(IntCall call) {
        try {
            return call.call();
        } catch (IOException e) {
            throw new ChannelException(e);
        }
    }

    private RelaySocketChannelConfig set(SetCall call) {
        try {
            call.call();
            return this;
        } catch (IOException e) {
            throw new ChannelException(e);
        }
    }

    public boolean isTcpCork() {
        return intOption(() -> socket().isTcpCork() ? 1 : 0) == 1;
    }

    public RelaySocketChannelConfig setTcpCork(boolean tcpCork) {
        return set(() -> socket().setTcpCork(tcpCork));
    }

    @Override
    public boolean isTcpNoDelay() {
        return intOption(() -> socket().isTcpNoDelay() ? 1 : 0) == 1;
    }

    @Override
    public RelaySocketChannelConfig setTcpNoDelay(boolean tcpNoDelay) {
        return set(() -> socket().setTcpNoDelay(tcpNoDelay));
    }

    @Override
    public int getSoLinger() {
        return intOption(() -> socket().getSoLinger());
    }

    /** A relay closes without lingering; setting SO_LINGER here is refused (see {@link RelaySocketChannel}). */
    @Override
    public RelaySocketChannelConfig setSoLinger(int soLinger) {
        throw new UnsupportedOperationException("SO_LINGER on a relay's socket");
    }

    @Override
    public int getSendBufferSize() {
        return intOption(() -> socket().getSendBufferSize());
    }

    @Override
    public RelaySocketChannelConfig setSendBufferSize(int sendBufferSize) {
        set(() -> socket().setSendBufferSize(sendBufferSize));
        int doubled = getSendBufferSize() << 1;
        if (doubled > 0) {
            setMaxBytesPerGatheringWrite(doubled);
        }
        return this;
    }

    @Override
    public int getReceiveBufferSize() {
        return intOption(() -> socket().getReceiveBufferSize());
    }

    @Override
    public RelaySocketChannelConfig setReceiveBufferSize(int receiveBufferSize) {
        return set(() -> socket().setReceiveBufferSize(receiveBufferSize));
    }

    @Override
    public boolean isKeepAlive() {
        return intOption(() -> socket().isKeepAlive() ? 1 : 0) == 1;
    }

    @Override
    public RelaySocketChannelConfig setKeepAlive(boolean keepAlive) {
        return set(() -> socket().setKeepAlive(keepAlive));
    }

    @Override
    public int getTrafficClass() {
        return intOption(() -> socket().getTrafficClass());
    }

    @Override
    public RelaySocketChannelConfig setTrafficClass(int trafficClass) {
        return set(() -> socket().setTrafficClass(trafficClass));
    }

    @Override
    public boolean isReuseAddress() {
        return intOption(() -> socket().isReuseAddress() ? 1 : 0) == 1;
    }

    @Override
    public RelaySocketChannelConfig setReuseAddress(boolean reuseAddress) {
        return set(() -> socket().setReuseAddress(reuseAddress));
    }

    @Override
    public RelaySocketChannelConfig setPerformancePreferences(int connectionTime, int latency, int bandwidth) {
        return this;
    }

    @Override
    public boolean isAllowHalfClosure() {
        return allowHalfClosure;
    }

    @Override
    public RelaySocketChannelConfig setAllowHalfClosure(boolean allowHalfClosure) {
        this.allowHalfClosure = allowHalfClosure;
        return this;
    }

    @Override
    public RelaySocketChannelConfig setConnectTimeoutMillis(int connectTimeoutMillis) {
        super.setConnectTimeoutMillis(connectTimeoutMillis);
        return this;
    }

    @Override
    @Deprecated
    public RelaySocketChannelConfig setMaxMessagesPerRead(int maxMessagesPerRead) {
        super.setMaxMessagesPerRead(maxMessagesPerRead);
        return this;
    }

    @Override
    public RelaySocketChannelConfig setWriteSpinCount(int writeSpinCount) {
        super.setWriteSpinCount(writeSpinCount);
        return this;
    }

    @Override
    public RelaySocketChannelConfig setAllocator(ByteBufAllocator allocator) {
        super.setAllocator(allocator);
        return this;
    }

    @Override
    public RelaySocketChannelConfig setRecvByteBufAllocator(RecvByteBufAllocator allocator) {
        super.setRecvByteBufAllocator(allocator);
        return this;
    }

    @Override
    public RelaySocketChannelConfig setAutoRead(boolean autoRead) {
        super.setAutoRead(autoRead);
        return this;
    }

    @Override
    public RelaySocketChannelConfig setAutoClose(boolean autoClose) {
        super.setAutoClose(autoClose);
        return this;
    }

    @Override
    @Deprecated
    public RelaySocketChannelConfig setWriteBufferHighWaterMark(int writeBufferHighWaterMark) {
        super.setWriteBufferHighWaterMark(writeBufferHighWaterMark);
        return this;
    }

    @Override
    @Deprecated
    public RelaySocketChannelConfig setWriteBufferLowWaterMark(int writeBufferLowWaterMark) {
        super.setWriteBufferLowWaterMark(writeBufferLowWaterMark);
        return this;
    }

    @Override
    public RelaySocketChannelConfig setWriteBufferWaterMark(WriteBufferWaterMark writeBufferWaterMark) {
        super.setWriteBufferWaterMark(writeBufferWaterMark);
        return this;
    }

    @Override
    public RelaySocketChannelConfig setMessageSizeEstimator(MessageSizeEstimator estimator) {
        super.setMessageSizeEstimator(estimator);
        return this;
    }
}
