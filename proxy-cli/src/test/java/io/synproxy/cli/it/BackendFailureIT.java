package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A backend that refuses or dies: the client's connection ends promptly and nothing stays open. */
@RequiresRoot(tools = {"nft"})
class BackendFailureIT {
    private static final int CONNECTIONS = 20;

    @Test
    void shouldEndClientConnectionsPromptlyWhenTheBackendRefuses() throws Exception {
        try (TestNet net = TestNet.pair();
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:9", "--stats-interval", "500ms")) {
            proxy.awaitStarted();
            long fdsBefore = LimitsIT.openFds(proxy);
            for (int i = 0; i < CONNECTIONS; i++) {
                long ms = net.inClientNow(BackendFailureIT::connectAndAwaitEnd);
                assertTrue(ms < 1000, "connection " + i + " ended after " + ms + " ms");
            }
            Map<String, Long> stats = settled(proxy);
            System.out.printf("BackendFailureIT refused: %s, fds %d -> %d%n", stats, fdsBefore, LimitsIT.openFds(proxy));
            assertEquals(CONNECTIONS, stats.get("backend_failed"));
            assertEquals(CONNECTIONS, stats.get("backend_refused"), "counted by cause");
            assertEquals(0, stats.get("backend_timeout"));
            assertEquals(CONNECTIONS, stats.get("handoffs"));
            assertEquals(fdsBefore, LimitsIT.openFds(proxy), "no descriptor left open");
        }
    }

    @Test
    void shouldEndClientConnectionsPromptlyWhenTheBackendDiesMidStream() throws Exception {
        try (TestNet net = TestNet.pair()) {
            ServerSocket dying = net.inServerNow(() -> {
                ServerSocket ss = new ServerSocket();
                ss.setReuseAddress(true);
                ss.bind(new InetSocketAddress("127.0.0.1", 9001));
                return ss;
            });
            // Reads the request, sends part of an answer, then resets the connection (SO_LINGER 0).
            Thread backend = Thread.ofPlatform().daemon().start(() -> {
                while (!dying.isClosed()) {
                    try (Socket s = dying.accept()) {
                        s.getInputStream().read(new byte[64]);
                        s.getOutputStream().write("partial".getBytes(StandardCharsets.US_ASCII));
                        s.setSoLinger(true, 0);
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            try (dying; ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen",
                    TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:9001", "--stats-interval", "500ms")) {
                proxy.awaitStarted();
                long fdsBefore = LimitsIT.openFds(proxy);
                for (int i = 0; i < CONNECTIONS; i++) {
                    long ms = net.inClientNow(BackendFailureIT::connectAndAwaitEnd);
                    assertTrue(ms < 1000, "connection " + i + " ended after " + ms + " ms");
                }
                Map<String, Long> stats = settled(proxy);
                System.out.printf("BackendFailureIT died: %s, fds %d -> %d%n", stats, fdsBefore, LimitsIT.openFds(proxy));
                assertEquals(CONNECTIONS, stats.get("handoffs"));
                assertEquals(0, stats.get("backend_failed"), "the backend accepted every connection");
                assertTrue(stats.get("backend_reset") > 0, "resets counted by cause: " + stats);
                assertEquals(fdsBefore, LimitsIT.openFds(proxy), "no descriptor left open");
            }
            backend.join(2000);
        }
    }

    @Test
    void shouldEndClientConnectionsPromptlyWhenTheBackendNeverAnswers() throws Exception {
        try (TestNet net = TestNet.pair()) {
            // The backend port swallows SYNs: the proxy's connect can only time out.
            net.exec(net.serverNs(), "nft", "add table inet blackhole { chain out { type filter hook output priority 0; "
                    + "tcp dport 9002 drop; }; }");
            try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                    "--backend", "127.0.0.1:9002", "--backend-connect-timeout", "1s", "--stats-interval", "500ms")) {
                proxy.awaitStarted();
                long fdsBefore = LimitsIT.openFds(proxy);
                int n = 5;
                List<Future<Long>> ends = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    ends.add(net.inClient(BackendFailureIT::connectAndAwaitEnd));
                }
                for (Future<Long> f : ends) {
                    long ms = f.get();
                    // The 1 s connect timeout plus scheduling on a shared machine; far below the 5 s default.
                    assertTrue(ms >= 900 && ms < 3000, "the client saw the end " + ms + " ms after its request");
                }
                Map<String, Long> stats = settled(proxy);
                System.out.printf("BackendFailureIT timeout: %s, fds %d -> %d%n", stats, fdsBefore, LimitsIT.openFds(proxy));
                assertEquals(n, stats.get("backend_timeout"), "counted by cause");
                assertEquals(n, stats.get("backend_failed"));
                assertEquals(0, stats.get("backend_refused"));
                assertEquals(fdsBefore, LimitsIT.openFds(proxy), "no descriptor left open");
            } finally {
                net.exec(net.serverNs(), "nft", "delete table inet blackhole");
            }
        }
    }

    @Test
    void shouldHoldBackAClientWhoseBackendDoesNotReadWithBoundedMemory() throws Exception {
        try (TestNet net = TestNet.pair()) {
            ServerSocket slow = net.inServerNow(() -> {
                ServerSocket ss = new ServerSocket();
                ss.setReuseAddress(true);
                ss.bind(new InetSocketAddress("127.0.0.1", 9003));
                return ss;
            });
            List<Socket> held = new ArrayList<>();
            // Accepts and never reads.
            Thread backend = Thread.ofPlatform().daemon().start(() -> {
                while (!slow.isClosed()) {
                    try {
                        Socket s = slow.accept();
                        synchronized (held) {
                            held.add(s);
                        }
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            try (slow; ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen",
                    TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:9003", "--stats-interval", "500ms")) {
                proxy.awaitStarted();
                long fdsBefore = LimitsIT.openFds(proxy);
                long rssBefore = rssKb(proxy);
                Socket client = net.inClientNow(() -> {
                    Socket s = new Socket();
                    s.connect(Clients.PROXY, 5000);
                    return s;
                });
                long[] written = new long[1];
                Thread writer = Thread.ofPlatform().daemon().start(() -> {
                    byte[] chunk = new byte[64 * 1024];
                    try {
                        for (int i = 0; i < 4096; i++) { // up to 256 MB
                            client.getOutputStream().write(chunk);
                            written[0] += chunk.length;
                        }
                    } catch (IOException e) {
                        // closed by the test
                    }
                });
                Thread.sleep(4000);
                Map<String, Long> a = proxy.nextStats(Duration.ofSeconds(5));
                Thread.sleep(1500);
                Map<String, Long> b = proxy.nextStats(Duration.ofSeconds(5));
                long rssStalled = rssKb(proxy);
                System.out.printf("BackendFailureIT slow backend: client wrote %d bytes and is blocked; proxy relayed "
                                + "bytes_up=%d then %d; proxy RSS %d -> %d kB%n", written[0], a.get("bytes"), b.get("bytes"),
                        rssBefore, rssStalled);
                assertTrue(writer.isAlive(), "the client's send stalls (back-pressure reaches it)");
                assertEquals(a.get("bytes"), b.get("bytes"), "the relay stopped reading the client");
                assertTrue(b.get("bytes") < 64L << 20, "the proxy holds a bounded amount: " + b.get("bytes"));
                assertTrue(rssStalled - rssBefore < 64 * 1024, "proxy memory bounded: " + rssBefore + " -> " + rssStalled + " kB");
                // The client gives up: the relay and the backend connection end.
                client.setSoLinger(true, 0);
                client.close();
                writer.join(5000);
                Map<String, Long> stats = settled(proxy);
                System.out.printf("BackendFailureIT slow backend after the client reset: %s, fds %d -> %d%n", stats,
                        fdsBefore, LimitsIT.openFds(proxy));
                assertEquals(1, stats.get("client_reset"), "counted by cause");
                assertEquals(fdsBefore, LimitsIT.openFds(proxy), "no descriptor left open");
            } finally {
                synchronized (held) {
                    for (Socket s : held) {
                        s.close();
                    }
                }
                backend.join(2000);
            }
        }
    }

    private static long rssKb(ProxyProcess proxy) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(proxy.process().pid()), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    @Test
    void shouldAbandonTheBackendConnectWhenTheClientLeftWhileItWasConnecting() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net)) {
            // The backend's first SYNs are lost, so each backend connect is still under way when its client resets:
            // the relay drops the backend socket then, and the backend never sees a connection for nobody.
            try (SlowBackend slowBackend = new SlowBackend(net);
                 ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                         "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "500ms")) {
                proxy.awaitStarted();
                long fdsBefore = LimitsIT.openFds(proxy);
                int n = 5;
                for (int i = 0; i < n; i++) {
                    net.inClientNow(() -> {
                        try (Socket s = new Socket()) {
                            s.connect(Clients.PROXY, 5000);
                            s.getOutputStream().write("bye\n".getBytes(StandardCharsets.US_ASCII));
                            Thread.sleep(200); // adopted, the backend connect under way
                            s.setSoLinger(true, 0); // the close is a RST
                        }
                        return null;
                    });
                }
                Thread.sleep(300);
                slowBackend.lift();
                // Past the SYN retransmissions (1 s, then 3 s) a connect still under way would have made.
                Thread.sleep(3500);
                Map<String, Long> stats = settled(proxy);
                System.out.printf("BackendFailureIT client gone first: %s, backend accepted %d, fds %d -> %d%n",
                        stats, backend.accepted(), fdsBefore, LimitsIT.openFds(proxy));
                assertEquals(0, backend.accepted(), "no backend connection completed after its client had left");
                assertEquals(n, stats.get("closed"));
                assertEquals(n, stats.get("client_reset"), "counted by cause");
                assertEquals(0, stats.get("backend_failed"), "the backend did not fail: the connect was abandoned");
                assertEquals(fdsBefore, LimitsIT.openFds(proxy), "no descriptor left open");
                assertTrue(!proxy.output().contains("Exception"), "no stack trace in the output:\n" + proxy.output());
            }
        }
    }

    @Test
    void shouldRelayARequestThatArrivedWhileTheBackendWasStillConnecting() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net)) {
            // The backend's first SYN is lost: its connect completes on the retransmission, a second later, and the
            // client's request, sent at once, waits in the proxy meanwhile. It must go out when the backend is
            // there, though no more data and no FIN follow it (a relay that only flushed on a later read or on
            // the FIN left it queued: the client waited forever).
            try (SlowBackend slowBackend = new SlowBackend(net);
                 ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                         "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "500ms")) {
                proxy.awaitStarted();
                byte[] msg = "early request\n".getBytes(StandardCharsets.US_ASCII);
                Future<byte[]> echo = net.inClient(() -> {
                    try (Socket s = new Socket()) {
                        s.setSoTimeout(8000);
                        s.connect(Clients.PROXY, 5000);
                        s.getOutputStream().write(msg);
                        return s.getInputStream().readNBytes(msg.length);
                    }
                });
                Thread.sleep(300);
                slowBackend.lift();
                assertArrayEquals(msg, echo.get(), "the echo of the request sent before the backend was connected");
                assertEquals(1, backend.accepted(), "backend connections");
            }
        }
    }

    /** Drops the proxy's SYNs to the echo backend until {@link #lift()}: its connects complete on a retransmission. */
    private static final class SlowBackend implements AutoCloseable {
        private final TestNet net;
        private boolean lifted;

        SlowBackend(TestNet net) throws IOException {
            this.net = net;
            net.exec(net.serverNs(), "nft", "add table inet slowbackend { chain out { type filter hook output priority 0; "
                    + "tcp dport " + EchoBackend.PORT + " tcp flags syn drop; }; }");
        }

        void lift() throws IOException {
            if (!lifted) {
                lifted = true;
                net.exec(net.serverNs(), "nft", "delete table inet slowbackend");
            }
        }

        @Override
        public void close() throws IOException {
            lift();
        }
    }

    /** Connects through the proxy, sends a line, reads until the end; returns ms from the send to the end. */
    private static long connectAndAwaitEnd() throws IOException {
        try (Socket s = new Socket()) {
            s.setSoTimeout(5000);
            s.connect(Clients.PROXY, 5000);
            long start = System.nanoTime();
            s.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            try {
                while (in.read() != -1) {
                    // Drain what the backend sent before it died.
                }
            } catch (SocketException reset) {
                // A reset is an end too.
            }
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        }
    }

    /** Waits until no connection is live and returns the stats then. */
    private static Map<String, Long> settled(ProxyProcess proxy) throws InterruptedException {
        Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
        for (int i = 0; i < 10 && stats.get("live") != 0; i++) {
            stats = proxy.nextStats(Duration.ofSeconds(5));
        }
        assertEquals(0, stats.get("live"), "live connections return to 0: " + stats);
        return stats;
    }
}
