package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.RelaySocketChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketProtocolFamily;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

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

    /**
     * A backend on this host: connect(2) runs loopback's whole handshake, so the channel is connected when
     * {@code connectNow} returns (the second connect(2) returns 0), and the server has the connection to accept.
     */
    @Test
    void shouldBeConnectedAtOnceToABackendOnThisHost() throws IOException {
        try (ServerSocket backend = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            InetSocketAddress peer = new InetSocketAddress(InetAddress.getLoopbackAddress(), backend.getLocalPort());
            RelaySocketChannel ch = new RelaySocketChannel(SocketProtocolFamily.INET, peer);
            try {
                assertFalse(ch.isActive());
                assertTrue(ch.connectNow(), "established within connect(2)");
                assertTrue(ch.isActive());
                assertEquals(peer, ch.remoteAddress());
                assertEquals(backend.getLocalPort(), ch.remoteAddress().getPort());
                assertTrue(ch.localAddress().getPort() > 0, "the local address, asked for when wanted");
                backend.setSoTimeout(5000);
                try (Socket accepted = backend.accept()) {
                    assertEquals(ch.localAddress().getPort(), accepted.getPort());
                }
                assertThrows(IllegalStateException.class, ch::connectNow, "once");
            } finally {
                ch.unsafe().closeForcibly();
            }
        }
    }

    /** Refused by a closed port on this host: the error comes out of connectNow, and the channel is not active. */
    @Test
    void shouldFailAtOnceWhenABackendOnThisHostRefuses() throws IOException {
        int port;
        try (ServerSocket closed = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = closed.getLocalPort();
        }
        RelaySocketChannel ch = new RelaySocketChannel(SocketProtocolFamily.INET,
                new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        try {
            ConnectException e = assertThrows(ConnectException.class, ch::connectNow);
            assertTrue(e.getMessage().contains("refused"), e.getMessage());
            assertFalse(ch.isActive());
        } finally {
            ch.unsafe().closeForcibly();
        }
    }

    /**
     * The peer's FIN with half-closure on, as the relay's legs run: the input is marked shut down without
     * shutdown(2) and reads stop, the event comes once, and the channel still writes until it is closed; closing
     * (the descriptor before Netty's deregistration) ends the connection.
     */
    @Test
    void shouldKeepWritingAfterThePeersFinAndCloseCleanly() throws Exception {
        MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try (ServerSocket backend = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            InetSocketAddress peer = new InetSocketAddress(InetAddress.getLoopbackAddress(), backend.getLocalPort());
            RelaySocketChannel ch = new RelaySocketChannel(SocketProtocolFamily.INET, peer);
            assertTrue(ch.connectNow());
            ch.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
            StringBuilder read = new StringBuilder();
            AtomicInteger finEvents = new AtomicInteger();
            CountDownLatch fin = new CountDownLatch(1);
            ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    ByteBuf buf = (ByteBuf) msg;
                    read.append(buf.toString(StandardCharsets.US_ASCII));
                    buf.release();
                }

                @Override
                public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                    if (evt instanceof ChannelInputShutdownEvent) {
                        finEvents.incrementAndGet();
                        fin.countDown();
                    }
                }
            });
            ch.readFromRegistration();
            EventLoop loop = group.next();
            loop.register(ch).sync();
            backend.setSoTimeout(5000);
            try (Socket accepted = backend.accept()) {
                accepted.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
                accepted.shutdownOutput();
                assertTrue(fin.await(5, TimeUnit.SECONDS), "the FIN seen");
                Thread.sleep(50);
                assertEquals("hello", loop.submit(read::toString).get());
                assertEquals(1, finEvents.get(), "one event for the FIN");
                assertTrue(ch.isInputShutdown());
                assertTrue(ch.isOpen(), "half-closed, not closed");
                ch.writeAndFlush(Unpooled.copiedBuffer("back", StandardCharsets.US_ASCII)).sync();
                byte[] back = accepted.getInputStream().readNBytes(4);
                assertEquals("back", new String(back, StandardCharsets.US_ASCII), "written after the peer's FIN");
                ch.close().sync();
                assertFalse(ch.isOpen());
                assertEquals(-1, accepted.getInputStream().read(), "closed: the peer reads its end");
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }
}
