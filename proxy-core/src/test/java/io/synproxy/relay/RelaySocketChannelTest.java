package io.synproxy.relay;

import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.RelaySocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

import java.net.InetSocketAddress;

import static io.synproxy.linux.Constants.AF_INET;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOCK_STREAM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The relay's channel: the addresses it is given, and the socket options the relay sets, on a real socket. */
@EnabledIf("epoll")
class RelaySocketChannelTest {
    static boolean epoll() {
        return Epoll.isAvailable();
    }

    @Test
    void shouldTakeAnAdoptedSocketsAddressesAsGivenWithoutAskingTheKernel() throws LinuxException {
        // An unconnected socket: the kernel would say 0.0.0.0:0 and no peer, so given addresses show none was asked.
        int fd = Native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        InetSocketAddress local = new InetSocketAddress("192.0.2.1", 80);
        InetSocketAddress peer = new InetSocketAddress("198.51.100.7", 40000);
        RelaySocketChannel ch = new RelaySocketChannel(fd, local, peer, false);
        try {
            assertTrue(ch.isActive(), "adopted as connected");
            assertEquals(local, ch.localAddress());
            assertEquals(peer, ch.remoteAddress());
            assertTrue(ch.config().isTcpNoDelay(), "set by the channel where the socket did not have it");
        } finally {
            ch.unsafe().closeForcibly();
        }
        assertFalse(ch.isOpen());
    }

    @Test
    void shouldStartWithNoDelayAndTakeTheRelaysOptions() {
        RelaySocketChannel ch = new RelaySocketChannel(SocketProtocolFamily.INET);
        try {
            assertFalse(ch.isActive(), "not connected yet");
            assertNull(ch.remoteAddress());
            assertTrue(ch.config().getOption(ChannelOption.TCP_NODELAY));
            assertTrue(ch.config().setOption(ChannelOption.SO_KEEPALIVE, true));
            assertTrue(ch.config().setOption(EpollChannelOption.TCP_KEEPIDLE, 61));
            assertTrue(ch.config().setOption(EpollChannelOption.TCP_KEEPINTVL, 7));
            assertTrue(ch.config().setOption(EpollChannelOption.TCP_KEEPCNT, 3));
            assertTrue(ch.config().getOption(ChannelOption.SO_KEEPALIVE));
            assertEquals(61, ch.config().getOption(EpollChannelOption.TCP_KEEPIDLE));
            assertEquals(7, ch.config().getOption(EpollChannelOption.TCP_KEEPINTVL));
            assertEquals(3, ch.config().getOption(EpollChannelOption.TCP_KEEPCNT));
            assertFalse(ch.config().getOption(ChannelOption.ALLOW_HALF_CLOSURE));
            assertTrue(ch.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true));
            assertTrue(ch.config().isAllowHalfClosure());
            ch.config().setTcpCork(true);
            assertTrue(ch.config().isTcpCork());
            assertThrows(UnsupportedOperationException.class, () -> ch.config().setSoLinger(5));
        } finally {
            ch.unsafe().closeForcibly();
        }
    }
}
