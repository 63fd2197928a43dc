package io.synproxy.cli.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

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
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A backend that refuses or dies: the client's connection ends promptly and nothing stays open. */
@EnabledIf("io.synproxy.cli.it.TestNet#canRun")
class BackendFailureIT {
    private static final int CONNECTIONS = 20;

    @Test
    void shouldEndClientConnectionsPromptlyWhenTheBackendRefuses() throws Exception {
        try (TestNet net = new TestNet();
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:9", "--stats-interval", "500ms")) {
            proxy.awaitStarted();
            long fdsBefore = openFds(proxy);
            for (int i = 0; i < CONNECTIONS; i++) {
                long ms = net.inClientNow(BackendFailureIT::connectAndAwaitEnd);
                assertTrue(ms < 1000, "connection " + i + " ended after " + ms + " ms");
            }
            Map<String, Long> stats = settled(proxy);
            System.out.printf("BackendFailureIT refused: %s, fds %d -> %d%n", stats, fdsBefore, openFds(proxy));
            assertEquals(CONNECTIONS, stats.get("backend_failed"));
            assertEquals(CONNECTIONS, stats.get("handoffs"));
            assertEquals(fdsBefore, openFds(proxy), "no descriptor left open");
        }
    }

    @Test
    void shouldEndClientConnectionsPromptlyWhenTheBackendDiesMidStream() throws Exception {
        try (TestNet net = new TestNet()) {
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
                long fdsBefore = openFds(proxy);
                for (int i = 0; i < CONNECTIONS; i++) {
                    long ms = net.inClientNow(BackendFailureIT::connectAndAwaitEnd);
                    assertTrue(ms < 1000, "connection " + i + " ended after " + ms + " ms");
                }
                Map<String, Long> stats = settled(proxy);
                System.out.printf("BackendFailureIT died: %s, fds %d -> %d%n", stats, fdsBefore, openFds(proxy));
                assertEquals(CONNECTIONS, stats.get("handoffs"));
                assertEquals(0, stats.get("backend_failed"), "the backend accepted every connection");
                assertEquals(fdsBefore, openFds(proxy), "no descriptor left open");
            }
            backend.join(2000);
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

    private static long openFds(ProxyProcess proxy) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(proxy.process().pid()), "fd"))) {
            return fds.count();
        }
    }
}
