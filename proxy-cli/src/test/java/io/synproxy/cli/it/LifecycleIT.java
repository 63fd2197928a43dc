package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Start, stop, kill and bad input: the host is always left as it was (or fail-closed, said and fixable). */
@RequiresRoot(tools = {"nft", "ss", "hping3"})
class LifecycleIT {
    private static final String TABLE = "synproxy_10_200_0_1_8080";

    private static String[] runArgs(String... extra) {
        List<String> a = new ArrayList<>(List.of("run", "--listen", TestNet.SERVER_IP + ":8080",
                "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "0"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void shouldExitPromptlyOnSigtermAndRemoveTheGuard() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net)) {
            ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), runArgs());
            proxy.awaitStarted();
            assertTrue(tables(net).contains(TABLE), "guard installed");
            net.inClientNow(() -> Clients.echoOnce(0, 5000));
            long start = System.nanoTime();
            int code = proxy.terminate(Duration.ofSeconds(5));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            System.out.printf("LifecycleIT: exited %d ms after SIGTERM with code %d%n", ms, code);
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code + "\n" + proxy.output());
            assertFalse(tables(net).contains(TABLE), "guard removed");
            assertTrue(proxy.output().contains("guard removed"), proxy.output());
            assertEquals(1, backend.accepted());
        }
    }

    @Test
    void shouldFailClosedAfterKillAndReplaceOrRemoveTheStaleGuard() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net)) {
            ProxyProcess first = ProxyProcess.start(net, net.serverNs(), runArgs());
            first.awaitStarted();
            first.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            assertTrue(tables(net).contains(TABLE), "kill -9 leaves the guard: fail-closed");
            // Fail-closed: nobody answers the SYN (no RST either), the connect times out.
            assertThrows(SocketTimeoutException.class, () -> net.inClientNow(() -> {
                try (Socket s = new Socket()) {
                    s.connect(Clients.PROXY, 1500);
                }
                return null;
            }));

            ProxyProcess second = ProxyProcess.start(net, net.serverNs(), runArgs());
            second.awaitStarted();
            net.inClientNow(() -> Clients.echoOnce(1, 5000));
            second.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);

            assertEquals(1, backend.accepted(), "only the second proxy reached the backend");
            Result removed = run(net, "guard", "--remove", "--listen", TestNet.SERVER_IP + ":8080");
            assertEquals(0, removed.code, removed.output);
            assertTrue(removed.output.contains("removed table inet " + TABLE), removed.output);
            assertFalse(tables(net).contains(TABLE), "guard --remove clears it");
            Result again = run(net, "guard", "--remove", "--listen", TestNet.SERVER_IP + ":8080");
            assertEquals(0, again.code, again.output);
            assertTrue(again.output.contains("no guard table"), again.output);
        }
    }

    @Test
    void shouldRideOutItsInterfaceGoingDownAndStopWhenItIsGone() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net)) {
            ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), runArgs());
            proxy.awaitStarted();
            net.inClientNow(() -> Clients.echoOnce(0, 5000));

            net.exec(net.serverNs(), "ip", "link", "set", net.serverDev(), "down");
            assertTrue(proxy.await("is down", Duration.ofSeconds(5)) != null, "the down is said: " + proxy.output());
            // The rings' error, left unread, woke both loops without end: 2 s of two busy loops is 4,000 ms.
            long cpu = cpuMillis(proxy.process().pid());
            Thread.sleep(2000);
            long spent = cpuMillis(proxy.process().pid()) - cpu;
            System.out.printf("LifecycleIT: %d ms of CPU in 2 s with the interface down%n", spent);
            assertTrue(spent < 500, "no loop spins on the down interface: " + spent + " ms of CPU in 2 s");

            net.exec(net.serverNs(), "ip", "link", "set", net.serverDev(), "up");
            boolean served = false;
            for (int i = 0; i < 20 && !served; i++) {
                try {
                    net.inClientNow(() -> Clients.echoOnce(1, 1000));
                    served = true;
                } catch (Exception e) {
                    Thread.sleep(250);
                }
            }
            assertTrue(served, "a client is served once the interface is back up: " + proxy.output());
            assertTrue(proxy.process().isAlive(), proxy.output());
            assertEquals(2, backend.accepted(), "both clients reached the backend");

            net.exec(net.serverNs(), "ip", "link", "del", net.serverDev());
            assertTrue(proxy.process().waitFor(15, TimeUnit.SECONDS), "stops when its interface is gone");
            String out = proxy.output();
            assertEquals(1, proxy.process().exitValue(), out);
            assertTrue(out.contains("synproxy: interface " + net.serverDev() + " is gone"), out);
            assertTrue(out.contains("guard removed"), out);
            assertFalse(out.contains("Exception"), "no stack trace: " + out);
            assertFalse(tables(net).contains(TABLE), "guard removed");
        }
    }

    @Test
    void shouldDrainOnSigtermLettingTransfersFinishAndClosingWhatOutlivesTheGracePeriod() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net)) {
            ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), runArgs("--drain-timeout", "3s"));
            try (proxy) {
                proxy.awaitStarted();
                Socket transfer = connect(net);
                Socket lingering = connect(net);
                // A transfer in progress when SIGTERM arrives: 12 chunks, 150 ms apart, then the digest.
                byte[] chunk = new byte[16 * 1024];
                Arrays.fill(chunk, (byte) 'x');
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                var done = new CompletableFuture<Boolean>();
                Thread.ofPlatform().daemon().start(() -> {
                    try {
                        var in = transfer.getInputStream();
                        Thread reader = Thread.ofPlatform().daemon().start(() -> {
                            try {
                                in.readNBytes(12 * chunk.length);
                            } catch (IOException ignored) {
                                // checked by the digest below
                            }
                        });
                        for (int i = 0; i < 12; i++) {
                            transfer.getOutputStream().write(chunk);
                            sha.update(chunk);
                            Thread.sleep(150);
                        }
                        reader.join(5000);
                        transfer.shutdownOutput();
                        byte[] digest = in.readNBytes(32);
                        done.complete(Arrays.equals(digest, sha.digest()) && in.read() == -1);
                    } catch (Exception e) {
                        done.completeExceptionally(e);
                    }
                });
                Thread.sleep(300);
                long term = System.nanoTime();
                proxy.process().destroy();
                assertTrue(proxy.await("draining", Duration.ofSeconds(5)) != null, proxy.output());
                // While draining: the guard stays, so a new client's SYN reaches neither the proxy's handshake nor
                // the kernel (no RST): its connect times out.
                assertTrue(tables(net).contains(TABLE), "the guard stays while draining");
                assertThrows(SocketTimeoutException.class, () -> net.inClientNow(() -> {
                    try (Socket s = new Socket()) {
                        s.connect(Clients.PROXY, 1200);
                    }
                    return null;
                }));
                assertTrue(done.get(10, TimeUnit.SECONDS), "the transfer in progress finished during the grace period");
                lingering.setSoTimeout(10_000);
                assertEquals(-1, lingering.getInputStream().read(), "the connection still open is closed at the deadline");
                long closedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - term);
                assertTrue(proxy.process().waitFor(10, TimeUnit.SECONDS), "exited");
                int code = proxy.process().exitValue();
                Map<String, Long> last = lastStats(proxy.output());
                System.out.printf("LifecycleIT drain: lingering connection closed %d ms after SIGTERM, exit %d, %s%n",
                        closedMs, code, last);
                assertTrue(closedMs >= 2500, "closed only at the end of the 3 s grace period: " + closedMs + " ms");
                assertTrue(code == 0 || code == 143, "exit code " + code);
                assertEquals(1, last.get("drain_closed"), proxy.output());
                // The rings count it; the kernel's handoff (what auto comes to where the host can have it) has
                // none, and its program is detached while draining: the guard drops the SYN uncounted.
                if (!proxy.output().contains("final ACKs handed to the kernel at tc")) {
                    assertTrue(last.get("drain_syn") >= 1, "the new client's SYN was counted: " + last);
                }
                assertEquals(2, last.get("handoffs"));
                assertFalse(tables(net).contains(TABLE), "guard removed at exit");
                assertTrue(proxy.output().contains("1 still open at the deadline closed"), proxy.output());
                assertEquals(2, backend.accepted());
                transfer.close();
                lingering.close();
            }
        }
    }

    @Test
    void shouldFailClosedAfterKillDuringAFloodAndRecoverOnTheNextStart() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net)) {
            ProxyProcess first = ProxyProcess.start(net, net.serverNs(), runArgs());
            first.awaitStarted();
            try (Hping flood = Hping.flood(net, "-S", 60)) {
                Thread.sleep(1500);
                first.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                first.close();
                assertTrue(flood.isAlive(), "the flood goes on");
                assertTrue(tables(net).contains(TABLE), "kill -9 leaves the guard: fail-closed");
                Thread.sleep(500);
                // Fail-closed under the flood: no half-open socket, no answer (not even RST) to anyone.
                assertEquals("", net.exec(net.serverNs(), "ss", "-Htan", "state", "syn-recv").trim(), "no half-open socket");
                assertThrows(SocketTimeoutException.class, () -> net.inClientNow(() -> {
                    try (Socket s = new Socket()) {
                        s.connect(Clients.PROXY, 1500);
                    }
                    return null;
                }));
                // The next start replaces the stale table and serves, still under the flood.
                try (ProxyProcess second = ProxyProcess.start(net, net.serverNs(), runArgs())) {
                    second.awaitStarted();
                    assertTrue(net.inClientNow(() -> Clients.echoOnce(1, 5000)) > 0, "served under the flood");
                    String table = net.exec(net.serverNs(), "nft", "list", "tables");
                    assertEquals(1, table.lines().filter(l -> l.contains(TABLE)).count(), "one guard table: " + table);
                    long sent = flood.stop();
                    System.out.printf("LifecycleIT kill -9 under a flood of %d SYNs: fail-closed, then replaced%n", sent);
                    int code = second.terminate(Duration.ofSeconds(15));
                    assertTrue(code == 0 || code == 143, "exit " + code + ": " + second.output());
                }
            }
            assertFalse(tables(net).contains(TABLE), "guard removed after the second proxy's SIGTERM");
            assertEquals(1, backend.accepted());
        }
    }

    private static Socket connect(TestNet net) throws Exception {
        return net.inClientNow(() -> {
            Socket s = new Socket();
            s.connect(Clients.PROXY, 5000);
            return s;
        });
    }

    private static Map<String, Long> lastStats(String output) {
        String last = null;
        for (String line : output.split("\n")) {
            if (line.startsWith("stats:")) {
                last = line;
            }
        }
        assertTrue(last != null, "a stats line at exit: " + output);
        return ProxyProcess.parse(last);
    }

    @Test
    void shouldRefuseBadInputWithOneSentenceAndLeaveNothingBehind() throws Exception {
        try (TestNet net = TestNet.pair()) {
            expectFailure(net, 1, "interface nosuch0 does not exist", runArgs("--interface", "nosuch0"));
            expectFailure(net, 1, "is not an address of this host",
                    "run", "--listen", "10.200.0.99:8080", "--backend", "127.0.0.1:9000");
            expectFailure(net, 2, "is not HOST:PORT", "run", "--listen", "garbage", "--backend", "127.0.0.1:9000");
            expectFailure(net, 2, "outside 1-65535", "run", "--listen", TestNet.SERVER_IP + ":70000",
                    "--backend", "127.0.0.1:9000");
            expectFailure(net, 2, "cannot be resolved", "run", "--listen", TestNet.SERVER_IP + ":8080",
                    "--backend", "no-such-host.invalid:80");
            expectFailure(net, 2, "Missing required option", "run", "--listen", TestNet.SERVER_IP + ":8080");
            // Something already listening on the port would answer SYNs itself.
            try (var listener = net.inServerNow(() -> {
                ServerSocket ss = new ServerSocket();
                ss.bind(new InetSocketAddress(TestNet.SERVER_IP, 8080));
                return ss;
            })) {
                assertTrue(listener.isBound());
                expectFailure(net, 1, "already in use", runArgs());
            }
        }
    }

    @Test
    void shouldExplainMissingCapabilities() throws Exception {
        try (TestNet net = TestNet.pair()) {
            List<String> cmd = new ArrayList<>(List.of("setpriv", "--bounding-set=-net_raw,-net_admin",
                    "--inh-caps=-net_raw,-net_admin", ProxyProcess.java(), "-jar", ProxyProcess.jar().toString()));
            cmd.addAll(List.of(runArgs()));
            Result r = runIn(net, cmd);
            assertEquals(1, r.code, r.output);
            assertTrue(r.output.contains("needs CAP_NET_RAW and CAP_NET_ADMIN"), r.output);
            assertOneSentence(r.output);
            assertFalse(tables(net).contains("synproxy"), "nothing installed");
        }
    }

    private static void expectFailure(TestNet net, int code, String text, String... args) throws Exception {
        Result r = run(net, args);
        assertEquals(code, r.code, "exit code for " + String.join(" ", args) + ": " + r.output);
        assertTrue(r.output.contains(text), "expected '" + text + "' in: " + r.output);
        if (code == 1) {
            assertOneSentence(r.output);
        }
        assertFalse(r.output.contains("Exception"), "no stack trace: " + r.output);
        assertFalse(tables(net).contains("synproxy"), "nothing left installed after: " + r.output);
    }

    private static void assertOneSentence(String output) {
        assertEquals(1, output.strip().lines().count(), "one line: " + output);
        assertFalse(output.contains("\tat "), "no stack trace: " + output);
    }

    /** The process's user and system CPU so far, from /proc/PID/stat (clock ticks of 10 ms). */
    private static long cpuMillis(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10;
    }

    private static String tables(TestNet net) throws IOException {
        return net.exec(net.serverNs(), "nft", "list", "tables");
    }

    private record Result(int code, String output) {
    }

    private static Result run(TestNet net, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProxyProcess.java(), "-jar", ProxyProcess.jar().toString()));
        cmd.addAll(List.of(args));
        return runIn(net, cmd);
    }

    private static Result runIn(TestNet net, List<String> cmd) throws Exception {
        Process p = net.start(net.serverNs(), ProcessBuilder.Redirect.PIPE, cmd.toArray(String[]::new));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "finished: " + cmd);
        return new Result(p.exitValue(), out);
    }
}
