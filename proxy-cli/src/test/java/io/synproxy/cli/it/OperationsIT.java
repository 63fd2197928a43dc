package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.Shell;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operator's controls with real Linux clients bound to several source addresses: deny and allow lists, their
 * SIGHUP reload, per-source connection and rate limits, and the RST to a final ACK whose cookie went stale. Every
 * counter is read from the Prometheus endpoint.
 */
@RequiresRoot(tools = {"nft"})
class OperationsIT {
    /** Three more client addresses beside {@link TestNet#CLIENT_IP}, on the same link. */
    static final String A = "10.200.0.3";
    static final String B = "10.200.0.4";
    static final String C = "10.200.1.5";
    static final int METRICS_PORT = 9101;

    static String[] run(String... extra) {
        List<String> a = new ArrayList<>(List.of("run", "--listen", TestNet.SERVER_IP + ":8080",
                "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "1s", "--threads", "2",
                "--metrics", "127.0.0.1:" + METRICS_PORT));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    /** Gives the client namespace the extra source addresses; the server routes them all back to the client host. */
    static void addSources(TestNet net) throws IOException {
        Shell.sh("ip", "-n", net.clientNs(), "addr", "add", A + "/24", "dev", net.clientDev());
        Shell.sh("ip", "-n", net.clientNs(), "addr", "add", B + "/24", "dev", net.clientDev());
        Shell.sh("ip", "-n", net.clientNs(), "addr", "add", C + "/24", "dev", net.clientDev());
    }

    /** One echo exchange from {@code source}; throws when the proxy does not serve it within two seconds. */
    static void echoFrom(TestNet net, String source) throws Exception {
        net.inClientNow(() -> {
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress(source, 0));
                s.setSoTimeout(2000);
                s.connect(Clients.PROXY, 2000);
                s.getOutputStream().write("hi\n".getBytes(StandardCharsets.US_ASCII));
                byte[] echo = s.getInputStream().readNBytes(3);
                if (echo.length != 3) {
                    throw new IOException("no echo");
                }
            }
            return null;
        });
    }

    /** An echo connection from {@code source} held open. */
    static Socket holdFrom(TestNet net, String source) throws Exception {
        return net.inClientNow(() -> {
            Socket s = new Socket();
            s.bind(new InetSocketAddress(source, 0));
            s.setSoTimeout(3000);
            s.connect(Clients.PROXY, 3000);
            s.getOutputStream().write("x\n".getBytes(StandardCharsets.US_ASCII));
            if (s.getInputStream().readNBytes(2).length != 2) {
                s.close();
                throw new IOException("no echo");
            }
            return s;
        });
    }

    static void assertUnanswered(TestNet net, String source) {
        assertThrows(SocketTimeoutException.class, () -> net.inClientNow(() -> {
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress(source, 0));
                s.connect(Clients.PROXY, 1500);
            }
            return null;
        }), source + " must get no SYN/ACK");
    }

    /** A proven client refused with RST: fails at once, not after retransmissions. */
    static void assertReset(TestNet net, String source) {
        long start = System.nanoTime();
        assertThrows(SocketException.class, () -> net.inClientNow(() -> {
            try (Socket s = new Socket()) {
                s.bind(new InetSocketAddress(source, 0));
                s.connect(Clients.PROXY, 3000);
                s.setSoTimeout(3000);
                s.getOutputStream().write("x\n".getBytes(StandardCharsets.US_ASCII));
                if (s.getInputStream().read() == -1) {
                    throw new SocketException("closed");
                }
            }
            return null;
        }), source + " must be reset");
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(ms < 1000, "reset at once: " + ms + " ms");
    }

    /** GET /metrics from inside the server namespace. */
    static String scrape(TestNet net) throws Exception {
        return net.inServerNow(() -> HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + METRICS_PORT + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body());
    }

    /** The value of one sample ({@code name} with its labels as exposed), or -1 when absent. */
    static long sample(String text, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " ([0-9.eE+]+)$").matcher(text);
        return m.find() ? (long) Double.parseDouble(m.group(1)) : -1;
    }

    /** Sends SIGHUP to the proxy's JVM (ip netns exec runs it in its own process). */
    static void hangUp(ProxyProcess proxy) throws IOException, InterruptedException {
        new ProcessBuilder("kill", "-HUP", Long.toString(proxy.jvm().pid())).start().waitFor(5, TimeUnit.SECONDS);
    }

    /** The repair handoff keeps the lists in Java, the kernel's in the BPF program: the same answers and counters. */
    @ParameterizedTest
    @ValueSource(strings = {"repair", "kernel"})
    void shouldNotAnswerDeniedSourcesAndServeTheOthers(String handoff) throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), run("--deny", A + "/32",
                     "--deny", "2001:db8::/32", "--handoff", handoff))) {
            addSources(net);
            proxy.awaitStarted();
            assertUnanswered(net, A);
            echoFrom(net, B);
            echoFrom(net, C);
            String m = scrape(net);
            assertTrue(sample(m, "synproxy_denied_total{stage=\"syn\"}") >= 1, m);
            assertEquals(2, sample(m, "synproxy_handoffs_total"), m);
            assertEquals(2, backend.accepted());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"repair", "kernel"})
    void shouldAnswerOnlyAllowedSources(String handoff) throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), run("--allow", "10.200.0.0/24",
                     "--deny", B, "--handoff", handoff))) {
            addSources(net);
            proxy.awaitStarted();
            echoFrom(net, A);
            assertUnanswered(net, B);
            assertUnanswered(net, C);
            String m = scrape(net);
            assertTrue(sample(m, "synproxy_denied_total{stage=\"syn\"}") >= 2, m);
            assertEquals(1, backend.accepted());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"repair", "kernel"})
    void shouldReloadListFilesOnSighupKeepingLiveConnectionsAndTheOldListOnABadLine(String handoff) throws Exception {
        Path dir = Files.createTempDirectory("synproxy-lists-");
        Path deny = dir.resolve("deny.txt");
        try {
            Files.writeString(deny, "# test\n" + A + "\n");
            try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
                 ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), run("--deny-file", deny.toString(),
                         "--handoff", handoff))) {
                addSources(net);
                proxy.awaitStarted();
                assertUnanswered(net, A);
                Socket held = holdFrom(net, B);

                Files.writeString(deny, "10.200.0.4/32 # B now\n");
                hangUp(proxy);
                assertNotNull(proxy.await("deny and allow lists reloaded", Duration.ofSeconds(5)), proxy.output());
                echoFrom(net, A);
                assertUnanswered(net, B);
                held.getOutputStream().write("still\n".getBytes(StandardCharsets.US_ASCII));
                assertEquals(6, held.getInputStream().readNBytes(6).length, "a live connection of a newly denied "
                        + "source is not dropped");

                Files.writeString(deny, "10.200.0.3\n10.200.0.0/33\n");
                hangUp(proxy);
                String line = proxy.await("not reloaded", Duration.ofSeconds(5));
                assertNotNull(line, proxy.output());
                assertTrue(line.contains("line 2"), line);
                assertUnanswered(net, B);
                echoFrom(net, A);
                assertEquals(3, backend.accepted(), "B once, A twice");
                held.close();
            }
        } finally {
            Files.deleteIfExists(deny);
            Files.deleteIfExists(dir);
        }
    }

    /** The repair handoff keeps the limits at the final ACK, the kernel's at accept: the same table, RST and counters. */
    @ParameterizedTest
    @ValueSource(strings = {"repair", "kernel"})
    void shouldResetASourceBeyondItsConnectionsAndCountANetworkAsOneSource(String handoff) throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), run("--max-connections-per-source", "2",
                     "--source-prefix", "/24,/64", "--handoff", handoff))) {
            addSources(net);
            proxy.awaitStarted();
            Socket a1 = holdFrom(net, A);
            Socket a2 = holdFrom(net, TestNet.CLIENT_IP);
            assertReset(net, B);
            assertReset(net, A);
            Socket c1 = holdFrom(net, C);
            String m = scrape(net);
            assertEquals(2, sample(m, "synproxy_refused_connections_total{reason=\"source_connections\"}"), m);
            assertEquals(3, sample(m, "synproxy_live_connections"), m);
            a1.close();
            Thread.sleep(300);
            echoFrom(net, B);
            assertEquals(4, backend.accepted(), "no backend connection for a refused client");
            a2.close();
            c1.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"repair", "kernel"})
    void shouldResetASourceBeyondItsRate(String handoff) throws Exception {
        int rate = 2;
        int attempts = 10;
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), run("--max-rate-per-source", rate + "/s",
                     "--handoff", handoff))) {
            addSources(net);
            proxy.awaitStarted();
            int served = 0;
            int reset = 0;
            long start = System.nanoTime();
            for (int i = 0; i < attempts; i++) {
                try {
                    echoFrom(net, A);
                    served++;
                } catch (SocketException e) {
                    reset++;
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf("OperationsIT rate (%s): %d served, %d reset in %.2f s at %d/s%n", handoff, served, reset,
                    seconds, rate);
            // A bucket of `rate` tokens refilled at `rate` a second: at most rate + rate * seconds are served.
            assertTrue(served <= rate + Math.ceil(rate * seconds), served + " served in " + seconds + " s");
            assertEquals(attempts, served + reset, "every attempt served or reset, none hangs");
            assertTrue(reset >= 1);
            echoFrom(net, B);
            String m = scrape(net);
            assertEquals(reset, sample(m, "synproxy_refused_connections_total{reason=\"source_rate\"}"), m);
            assertEquals(served + 1, backend.accepted());
            Thread.sleep(1000 / rate + 100);
            echoFrom(net, A);
        }
    }

    @Test
    void shouldResetAClientWhoseCookieWentStale() throws Exception {
        staleCookie(true);
    }

    @Test
    void shouldLeaveAStaleCookieUnansweredAtRateZero() throws Exception {
        staleCookie(false);
    }

    /**
     * A real client whose final ACK is lost (dropped in its namespace) until its cookie expired (two key periods):
     * its zero-window probes then carry a stale cookie. With RSTs on it fails at once, as against a kernel
     * listener; with --invalid-ack-rst-rate 0 it waits behind the zero window.
     */
    private static void staleCookie(boolean answer) throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), run("--key-rotation", "1s",
                     "--invalid-ack-rst-rate", answer ? "100/s" : "0"))) {
            proxy.awaitStarted();
            String table = "stale" + Long.toHexString(System.nanoTime() & 0xffffff);
            net.exec(net.clientNs(), "nft", "add table inet " + table + " { chain out { type filter hook output "
                    + "priority 0; tcp dport 8080 tcp flags & (syn | ack) == ack drop; }; }");
            Socket s = net.inClientNow(() -> {
                Socket c = new Socket();
                c.connect(Clients.PROXY, 3000);
                c.getOutputStream().write("x\n".getBytes(StandardCharsets.US_ASCII));
                return c;
            });
            Thread.sleep(3500);
            net.exec(net.clientNs(), "nft", "delete table inet " + table);
            s.setSoTimeout(answer ? 15_000 : 6_000);
            long start = System.nanoTime();
            InputStream in = s.getInputStream();
            if (answer) {
                assertThrows(SocketException.class, in::read, "the RST ends the connection");
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                System.out.printf("OperationsIT stale cookie: reset %d ms after the path reopened%n", ms);
            } else {
                assertThrows(SocketTimeoutException.class, in::read, "no answer: the client waits");
            }
            s.close();
            String m = scrape(net);
            System.out.printf("OperationsIT stale cookie (answer=%s): %s%n", answer,
                    m.lines().filter(l -> l.startsWith("synproxy_invalid_ack") || l.startsWith("synproxy_final_acks"))
                            .toList());
            if (answer) {
                assertTrue(sample(m, "synproxy_invalid_ack_resets_total{result=\"sent\"}") >= 1, m);
            } else {
                assertEquals(0, sample(m, "synproxy_invalid_ack_resets_total{result=\"sent\"}"), m);
                assertTrue(sample(m, "synproxy_invalid_ack_resets_total{result=\"rate_limited\"}") >= 1, m);
            }
            assertEquals(0, sample(m, "synproxy_handoffs_total"), m);
            assertEquals(0, backend.accepted());
        }
    }
}
