package io.synproxy.relay;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.synproxy.linux.Native;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static io.synproxy.linux.Constants.IPPROTO_TCP;
import static io.synproxy.linux.Constants.TCP_INFO;
import static io.synproxy.linux.Constants.TCP_INFO_BYTES_RECEIVED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * One relayed connection's end ({@link RelayConnection}, {@link Flow}), on loopback sockets, in what RelayTest does not
 * already cover: the backend's last data and FIN, arriving together, leave for the client together, in one segment,
 * in every mode; a drain closes what is open and counts it, once; the sockets of relays that end together are all
 * closed (in the io_uring batches of {@link Relay}).
 */
@EnabledIf("epoll")
class RelayConnectionTest {
    /** struct tcp_info's {@code tcpi_segs_out}: the u32 after {@code tcpi_bytes_received} (since Linux 4.2). */
    private static final int TCPI_SEGS_OUT = TCP_INFO_BYTES_RECEIVED + 8;
    private static MultiThreadIoEventLoopGroup group;
    private static MultiThreadIoEventLoopGroup backendGroup;

    static boolean epoll() {
        return Epoll.isAvailable();
    }

    @BeforeAll
    static void start() {
        group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        backendGroup = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    }

    @AfterAll
    static void stop() throws Exception {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        backendGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    @ParameterizedTest
    @EnumSource(RelayMode.class)
    void shouldSendTheBackendsLastDataAndFinToTheClientInOneSegment(RelayMode mode) throws Exception {
        CompletableFuture<Channel> backendSide = new CompletableFuture<>();
        Channel backend = backend(backendSide);
        EventLoop loop = group.next();
        Counters counters = new Counters();
        Relay relay = RelayFixtures.relayTo(loop, ((InetSocketAddress) backend.localAddress()).getPort(), mode, counters);
        CountDownLatch closed = new CountDownLatch(1);
        CompletableFuture<Integer> probe = new CompletableFuture<>();
        Channel listener = RelayFixtures.handoffListener(group, fd -> {
            // A second descriptor of the adopted socket: the test reads its TCP_INFO while the relay owns the first.
            try {
                probe.complete(Native.dup(fd));
            } catch (Exception e) {
                probe.completeExceptionally(e);
            }
            relay.adopt(fd, null, closed::countDown);
        });
        byte[] response = new byte[300];
        Arrays.fill(response, (byte) 'r');
        try (Socket s = new Socket(); Arena arena = Arena.ofConfined()) {
            s.setSoTimeout(5000);
            s.connect(listener.localAddress(), 2000);
            s.getOutputStream().write("request".getBytes(StandardCharsets.US_ASCII));
            Channel b = backendSide.get(5, TimeUnit.SECONDS);
            int fd = probe.get(5, TimeUnit.SECONDS);
            // Every ACK of the request has gone by now.
            Thread.sleep(200);
            MemorySegment info = arena.allocate(TCPI_SEGS_OUT + 8, 8);
            long before = segsOut(fd, info);
            // Corked: the response and the backend's FIN reach the proxy as one segment.
            b.eventLoop().submit(() -> {
                b.config().setOption(EpollChannelOption.TCP_CORK, true);
                b.writeAndFlush(Unpooled.wrappedBuffer(response));
                ((EpollSocketChannel) b).shutdownOutput();
            }).get(5, TimeUnit.SECONDS);
            byte[] got = s.getInputStream().readNBytes(response.length + 1);
            long after = segsOut(fd, info);
            assertArrayEquals(response, got, "the response, then the FIN");
            assertEquals(1, after - before, "data and FIN in one segment (" + mode + ")");
            Native.close(fd);
        } finally {
            listener.close().sync();
            backend.close().sync();
        }
        assertTrue(closed.await(5, TimeUnit.SECONDS), "the relay ended");
        assertEquals(7L, loop.submit(() -> counters.get(Counter.BYTES_TO_BACKEND)).get(), "bytes counted up");
        assertEquals(300L, loop.submit(() -> counters.get(Counter.BYTES_TO_CLIENT)).get(), "bytes counted down");
        loop.submit(relay::close).get();
    }

    /**
     * The client's data and FIN arrive while its direction waits for a backend that reads slowly (the output full, the
     * input not read meanwhile): every byte, then the FIN, must still reach the backend, in every mode.
     */
    @ParameterizedTest
    @EnumSource(RelayMode.class)
    void shouldPassAFinThatArrivedWhileTheOutputWasFull(RelayMode mode) throws Exception {
        int size = (8 << 20) + 1000; // not a whole number of reads: the last one is short
        CompletableFuture<long[]> seen = new CompletableFuture<>();
        try (ServerSocket slow = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                try (Socket s = slow.accept()) {
                    s.setSoTimeout(5000);
                    InputStream in = s.getInputStream();
                    byte[] chunk = new byte[64 << 10];
                    long total = 0;
                    int n;
                    while ((n = in.read(chunk)) > 0) {
                        total += n;
                        Thread.sleep(1);
                    }
                    seen.complete(new long[] {total, n});
                } catch (Exception e) {
                    seen.completeExceptionally(e);
                }
            });
            EventLoop loop = group.next();
            Relay relay = RelayFixtures.relayTo(loop, slow.getLocalPort(), mode, new Counters());
            CountDownLatch closed = new CountDownLatch(1);
            Channel listener = RelayFixtures.handoffListener(group, fd -> relay.adopt(fd, null, closed::countDown));
            try (Socket s = new Socket()) {
                s.connect(listener.localAddress(), 2000);
                byte[] data = new byte[size];
                Arrays.fill(data, (byte) 7);
                s.getOutputStream().write(data);
                s.shutdownOutput();
                long[] got = seen.get(20, TimeUnit.SECONDS);
                assertEquals(size, got[0], "every byte reached the backend (" + mode + ")");
                assertEquals(-1, got[1], "then the FIN (" + mode + ")");
            } finally {
                listener.close().sync();
            }
            assertTrue(closed.await(5, TimeUnit.SECONDS), "the relay ended");
            loop.submit(relay::close).get();
        }
    }

    @Test
    void shouldCloseAndCountEveryOpenRelayAtADrain() throws Exception {
        CompletableFuture<Channel> backendSide = new CompletableFuture<>();
        Channel backend = backend(backendSide);
        EventLoop loop = group.next();
        Counters counters = new Counters();
        Relay relay = RelayFixtures.relayTo(loop, ((InetSocketAddress) backend.localAddress()).getPort(), RelayMode.AUTO, counters);
        AtomicInteger ended = new AtomicInteger();
        CountDownLatch closed = new CountDownLatch(1);
        Channel listener = RelayFixtures.handoffListener(group, fd -> relay.adopt(fd, null, () -> {
            ended.incrementAndGet();
            closed.countDown();
        }));
        try (Socket s = new Socket()) {
            s.setSoTimeout(5000);
            s.connect(listener.localAddress(), 2000);
            backendSide.get(5, TimeUnit.SECONDS);
            assertEquals(1, relay.closeAll().get(5, TimeUnit.SECONDS), "relays closed");
            assertEquals(-1, s.getInputStream().read(), "the client sees the end");
            assertTrue(closed.await(5, TimeUnit.SECONDS), "the relay's end ran");
            assertEquals(1, ended.get(), "once");
            assertEquals(1L, loop.submit(() -> counters.get(Counter.DRAIN_CLOSED)).get());
            assertEquals(0, relay.closeAll().get(5, TimeUnit.SECONDS), "nothing left open");
        } finally {
            listener.close().sync();
            backend.close().sync();
            loop.submit(relay::close).get();
        }
    }

    @ParameterizedTest(name = "io_uring {0}")
    @ValueSource(booleans = {true, false})
    void shouldCloseBothSocketsOfEveryRelayThatEndsInOneBatch(boolean useUring) throws Exception {
        int n = 40;
        Set<Channel> accepted = ConcurrentHashMap.newKeySet();
        // A ChannelInitializer is @Sharable: one handler for all 40 backend connections.
        Channel backend = new ServerBootstrap().group(backendGroup).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        accepted.add(ch);
                    }
                }).bind(InetAddress.getLoopbackAddress(), 0).sync().channel();
        EventLoop loop = group.next();
        Counters counters = new Counters();
        Relay relay = RelayFixtures.relayTo(loop, ((InetSocketAddress) backend.localAddress()).getPort(), RelayMode.AUTO,
                counters, useUring);
        CountDownLatch closed = new CountDownLatch(n);
        Channel listener = RelayFixtures.handoffListener(group, fd -> relay.adopt(fd, null, closed::countDown));
        Socket[] clients = new Socket[n];
        try {
            if (useUring) {
                assumeTrue(relay.closesThroughUring(), "no io_uring here");
            } else {
                assertFalse(relay.closesThroughUring());
            }
            for (int i = 0; i < n; i++) {
                clients[i] = new Socket();
                clients[i].connect(listener.localAddress(), 2000);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (loop.submit(() -> relay.live.size()).get() < n && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            // The sockets as /proc names them (socket:[inode]): a number the relay closed may be reused at once.
            List<String> sockets = loop.submit(() -> {
                List<String> names = new ArrayList<>();
                for (RelayConnection c : relay.live) {
                    names.add(Files.readSymbolicLink(Path.of("/proc/self/fd/" + c.client.fd))
                            .toString());
                    names.add(Files.readSymbolicLink(Path.of("/proc/self/fd/" + c.server.fd))
                            .toString());
                }
                return names;
            }).get();
            assertEquals(2 * n, sockets.size(), "both sockets of every relay");
            // All of them end in one loop task: their sockets go in two full io_uring submits and a third.
            assertEquals(n, relay.closeAll().get(5, TimeUnit.SECONDS));
            assertTrue(closed.await(5, TimeUnit.SECONDS), "every relay's end ran");
            assertEquals((long) n, loop.submit(() -> counters.get(Counter.CONNECTIONS_CLOSED)).get());
            Set<String> open = new HashSet<>();
            try (var fds = Files.list(Path.of("/proc/self/fd"))) {
                for (Path fd : (Iterable<Path>) fds::iterator) {
                    try {
                        open.add(Files.readSymbolicLink(fd).toString());
                    } catch (IOException e) {
                        // Closed while listed.
                    }
                }
            }
            for (String socket : sockets) {
                assertFalse(open.contains(socket), socket + " still open");
            }
            for (Socket c : clients) {
                c.setSoTimeout(5000);
                assertEquals(-1, c.getInputStream().read(), "the client sees the end");
            }
        } finally {
            for (Socket c : clients) {
                if (c != null) {
                    c.close();
                }
            }
            listener.close().sync();
            backend.close().sync();
            for (Channel c : accepted) {
                c.close().sync();
            }
            loop.submit(relay::close).get();
        }
    }

    /** A loopback backend that hands each accepted channel to {@code accepted} and reads nothing. */
    private static Channel backend(CompletableFuture<Channel> accepted) throws InterruptedException {
        return new ServerBootstrap().group(backendGroup).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                        accepted.complete(ctx.channel());
                    }
                }).bind(InetAddress.getLoopbackAddress(), 0).sync().channel();
    }

    private static long segsOut(int fd, MemorySegment info) throws Exception {
        Native.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, "TCP_INFO");
        return Integer.toUnsignedLong(info.get(ValueLayout.JAVA_INT, TCPI_SEGS_OUT));
    }
}
