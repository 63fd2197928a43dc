package io.synproxy.relay;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.synproxy.config.ProxyConfig;
import io.synproxy.config.ProxyProtocol;
import io.synproxy.linux.Native;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counters;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.function.IntConsumer;

/** What the relay tests set up the same way: a relay to a loopback port, and sockets that stand in for handed-off ones. */
final class RelayFixtures {
    private RelayFixtures() {
    }

    /** A relay on {@code loop} to the backend at loopback:{@code port}, 2 s connect timeout, no idle timeout. */
    static Relay relayTo(EventLoop loop, int port, RelayMode mode, Counters counters) {
        return relayTo(loop, port, mode, counters, true);
    }

    /** As above; {@code useUring} false closes with close(2) each, as where io_uring is refused. */
    static Relay relayTo(EventLoop loop, int port, RelayMode mode, Counters counters, boolean useUring) {
        return new Relay(loop, new RelaySettings(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000, 0,
                ProxyProtocol.OFF, null, mode, ProxyConfig.DEFAULT_PIPE_BYTES), counters, BackendTimings.NONE,
                useUring);
    }

    /**
     * A listener on {@code group} whose accepted sockets stand in for handed-off ones: each under a second descriptor,
     * as the handoff would give it, to {@code adopt}.
     */
    static Channel handoffListener(EventLoopGroup group, IntConsumer adopt) throws InterruptedException {
        return new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                .childHandler(new Handoff(adopt)).bind(InetAddress.getLoopbackAddress(), 0).sync().channel();
    }

    /** Shared by every accepted channel, so that a listener can take more than one client. */
    @ChannelHandler.Sharable
    private static final class Handoff extends ChannelInboundHandlerAdapter {
        private final IntConsumer adopt;

        Handoff(IntConsumer adopt) {
            this.adopt = adopt;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) throws Exception {
            int fd = Native.dup(((EpollSocketChannel) ctx.channel()).fd().intValue());
            ctx.channel().close().addListener(f -> adopt.accept(fd));
        }
    }
}
