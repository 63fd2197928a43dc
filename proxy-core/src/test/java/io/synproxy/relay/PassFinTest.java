package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.RelaySocketChannel;
import io.netty.channel.socket.SocketProtocolFamily;
import io.synproxy.linux.Native;
import io.synproxy.metrics.Counter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.TimeUnit;

import static io.synproxy.linux.Constants.IPPROTO_TCP;
import static io.synproxy.linux.Constants.TCP_INFO;
import static io.synproxy.linux.Constants.TCP_INFO_BYTES_RECEIVED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A direction's FIN passed on after the last data it read ({@link Pump#passFin}), on real loopback sockets: the data
 * and the FIN leave in one segment when the kernel takes all of it at once, and everything still arrives, in order
 * and followed by the FIN, when it cannot (the receiver does not read: the kernel takes part, or a flush waits).
 */
@EnabledIf("epoll")
class PassFinTest {
    /** struct tcp_info's {@code tcpi_segs_out}: the u32 after {@code tcpi_bytes_received} (since Linux 4.2). */
    private static final int TCPI_SEGS_OUT = TCP_INFO_BYTES_RECEIVED + 8;
    private static MultiThreadIoEventLoopGroup group;

    static boolean epoll() {
        return Epoll.isAvailable();
    }

    @BeforeAll
    static void start() {
        group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    }

    @AfterAll
    static void stop() throws Exception {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    @Test
    void shouldSendTheLastDataWithTheFinInOneSegment() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            RelaySocketChannel out = connected(server);
            try (Socket accepted = server.accept(); Arena arena = Arena.ofShared()) {
                EventLoop loop = out.eventLoop();
                MemorySegment info = arena.allocate(TCPI_SEGS_OUT + 8, 8);
                int fd = out.fd().intValue();
                long[] segments = loop.submit(() -> {
                    long before = segsOut(fd, info);
                    ChannelFuture written = out.write(pattern(out, 0, 300));
                    Pump.passFin(direction(out));
                    return new long[] {before, segsOut(fd, info), written.isSuccess() ? 1 : 0};
                }).get(5, TimeUnit.SECONDS);
                assertEquals(1, segments[2], "the write's promise completed within passFin");
                assertEquals(1, segments[1] - segments[0], "data and FIN in one segment");
                accepted.setSoTimeout(5000);
                assertPattern(accepted.getInputStream(), 300);
            } finally {
                out.close().sync();
            }
        }
    }

    /**
     * @param flushFirst half of it is flushed before and waits for the reader (EPOLLOUT), half still queued: passFin
     *                   leaves it all to Netty's flush. Otherwise all of it is queued: the kernel takes part of it
     *                   with MSG_MORE and Netty's flush the rest.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void shouldDeliverEverythingThenTheFinWhenTheKernelCannotTakeItAtOnce(boolean flushFirst) throws Exception {
        int size = 16 << 20;
        try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            server.setReceiveBufferSize(64 << 10);
            RelaySocketChannel out = connected(server);
            try (Socket accepted = server.accept()) {
                ChannelFuture written = out.eventLoop().submit(() -> {
                    int first = flushFirst ? size / 2 : 0;
                    if (flushFirst) {
                        out.writeAndFlush(pattern(out, 0, first));
                    }
                    ChannelFuture w = out.write(pattern(out, first, size - first));
                    Pump.passFin(direction(out));
                    return w;
                }).get(5, TimeUnit.SECONDS);
                assertFalse(written.isDone(), "more than loopback's buffers hold: the rest waits for the reader");
                accepted.setSoTimeout(10_000);
                assertPattern(accepted.getInputStream(), size);
                assertTrue(written.await(5, TimeUnit.SECONDS) && written.isSuccess(), "written: " + written.cause());
            } finally {
                out.close().sync();
            }
        }
    }

    private static RelaySocketChannel connected(ServerSocket server) throws Exception {
        RelaySocketChannel out = new RelaySocketChannel(SocketProtocolFamily.INET,
                new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort()));
        assertTrue(out.connectNow(), "loopback connects within connect(2)");
        out.config().setAllowHalfClosure(true);
        EventLoop loop = group.next();
        loop.register(out).sync();
        return out;
    }

    /** A direction writing to {@code out} whose other direction is still open. */
    private static Direction direction(RelaySocketChannel out) {
        Direction dir = new Direction(out, out, Counter.BYTES_TO_CLIENT, Counter.BACKEND_RESET, null);
        dir.peer = new Direction(out, out, Counter.BYTES_TO_BACKEND, Counter.CLIENT_RESET, null);
        dir.peer.peer = dir;
        return dir;
    }

    private static ByteBuf pattern(RelaySocketChannel ch, int from, int length) {
        ByteBuf buf = ch.alloc().directBuffer(length);
        for (int i = from; i < from + length; i++) {
            buf.writeByte(i * 31 + (i >>> 8));
        }
        return buf;
    }

    private static void assertPattern(InputStream in, int length) throws Exception {
        byte[] chunk = new byte[64 << 10];
        int at = 0;
        int n;
        while ((n = in.read(chunk)) >= 0) {
            for (int i = 0; i < n; i++, at++) {
                assertEquals((byte) (at * 31 + (at >>> 8)), chunk[i], "byte " + at);
            }
        }
        assertEquals(length, at, "bytes before the FIN");
    }

    private static long segsOut(int fd, MemorySegment info) throws Exception {
        Native.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, "TCP_INFO");
        return Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, TCPI_SEGS_OUT));
    }
}
