package io.synproxy.relay;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.synproxy.config.ProxyConfig;
import io.synproxy.config.ProxyProtocol;
import io.synproxy.linux.Native;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Many short request/response exchanges through the relay on loopback, the way HttpIT's wrk with
 * {@code Connection: close} drives it through nginx: the client writes a request, the backend answers in two
 * writes (head, then body) and closes at once, the client reads to the end of the body and closes. Every response
 * must arrive whole in every mode; in splice mode every connection starts spliced.
 */
@EnabledIf("io.netty.channel.epoll.Epoll#isAvailable")
class RelayExchangeTest {
    private static final int CLIENTS = 4;
    private static final int EXCHANGES = Integer.getInteger("relay.exchanges", 2000);
    private static final byte[] REQUEST = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            .getBytes(StandardCharsets.US_ASCII);
    private static MultiThreadIoEventLoopGroup group;
    private static ServerSocket backend;

    @BeforeAll
    static void start() throws Exception {
        group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        backend = LoopbackServer.start(512, RelayExchangeTest::answerAndClose);
    }

    @AfterAll
    static void stop() throws Exception {
        backend.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    /** The body of the response to exchange {@code n}: its number, then a pattern, sizes from tens of bytes to 20 KB. */
    static byte[] body(int n) {
        int size = 16 + (n * 7919) % 20_000;
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) ('a' + (n + i) % 26);
        }
        return b;
    }

    /** Reads the request (its number in a header), writes head and body separately, closes. */
    private static void answerAndClose(Socket s) {
        try (s) {
            InputStream in = s.getInputStream();
            byte[] req = new byte[4096];
            int len = 0;
            while (len < 4 || !Arrays.equals(req, len - 4, len, REQUEST, REQUEST.length - 4, REQUEST.length)) {
                int n = in.read(req, len, req.length - len);
                if (n < 0) {
                    return;
                }
                len += n;
            }
            String text = new String(req, 0, len, StandardCharsets.US_ASCII);
            int at = text.indexOf("N: ");
            int n = Integer.parseInt(text.substring(at + 3, text.indexOf('\r', at)));
            byte[] body = body(n);
            OutputStream out = s.getOutputStream();
            out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            out.write(body);
            out.flush();
        } catch (Exception e) {
            // The client reports what it did not receive.
        }
    }

    /** One exchange; null when the response came whole, else what went wrong. */
    private static String exchange(InetSocketAddress proxy, int n) {
        byte[] expected = body(n);
        try (Socket s = new Socket()) {
            s.setSoTimeout(3000);
            s.connect(proxy, 2000);
            String req = new String(REQUEST, StandardCharsets.US_ASCII).replace("\r\n\r\n", "\r\nN: " + n + "\r\n\r\n");
            s.getOutputStream().write(req.getBytes(StandardCharsets.US_ASCII));
            byte[] all = s.getInputStream().readAllBytes();
            String text = new String(all, StandardCharsets.US_ASCII);
            int head = text.indexOf("\r\n\r\n");
            if (head < 0) {
                return "exchange " + n + ": " + all.length + " bytes, no complete head";
            }
            byte[] body = Arrays.copyOfRange(all, head + 4, all.length);
            if (!Arrays.equals(expected, body)) {
                return "exchange " + n + ": body of " + body.length + " bytes, expected " + expected.length;
            }
            return null;
        } catch (Exception e) {
            return "exchange " + n + ": " + e;
        }
    }

    @ParameterizedTest
    @EnumSource(RelayMode.class)
    void shouldDeliverEveryShortResponseWholeWhenTheBackendClosesRightAfterWriting(RelayMode mode) throws Exception {
        EventLoop loop = group.next();
        Counters counters = new Counters();
        Relay relay = new Relay(loop, new RelaySettings(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), backend.getLocalPort()), 2000, 0,
                ProxyProtocol.OFF, null, mode, ProxyConfig.DEFAULT_PIPE_BYTES), counters, BackendTimings.NONE);
        AtomicInteger closed = new AtomicInteger();
        Channel listener = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                    @Override
                    protected void initChannel(EpollSocketChannel ch) throws Exception {
                        // The accepted socket under a second descriptor, as the handoff would give it.
                        int fd = Native.dup(ch.fd().intValue());
                        ch.close().addListener(f -> relay.adopt(fd, null, closed::incrementAndGet));
                    }
                }).bind(InetAddress.getLoopbackAddress(), 0).sync().channel();
        try {
            InetSocketAddress proxy = (InetSocketAddress) listener.localAddress();
            ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
            AtomicInteger next = new AtomicInteger();
            List<Future<?>> clients = new ArrayList<>();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int c = 0; c < CLIENTS; c++) {
                    clients.add(pool.submit(() -> {
                        int n;
                        while ((n = next.getAndIncrement()) < EXCHANGES) {
                            String failure = exchange(proxy, n);
                            if (failure != null) {
                                failures.add(failure);
                            }
                        }
                    }));
                }
                for (Future<?> f : clients) {
                    f.get(120, TimeUnit.SECONDS);
                }
            }
            assertTrue(failures.isEmpty(), failures.size() + " of " + EXCHANGES + " exchanges failed in " + mode
                    + ", resets " + loop.submit(() -> counters.get(Counter.CLIENT_RESET) + "/"
                    + counters.get(Counter.BACKEND_RESET) + ", fallbacks " + counters.get(Counter.SPLICE_FALLBACK)).get()
                    + ": " + failures.stream().limit(10).toList());
            if (mode == RelayMode.SPLICE) {
                assertEquals(2L * EXCHANGES, loop.submit(() -> counters.get(Counter.SPLICED)).get(),
                        "every direction spliced");
            }
        } finally {
            listener.close().sync();
            loop.submit(relay::close).get();
        }
    }
}
