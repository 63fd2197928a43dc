package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One proxy process protecting IPv4 and IPv6 at once ({@code --listen 0.0.0.0:8080 --listen [::]:8080}): both
 * families served side by side by one capture ring per loop (ETH_P_ALL with a filter for both), one guard table per
 * family, both removed on SIGTERM, both left fail-closed by kill -9 and removable with {@code guard --remove}.
 */
@RequiresRoot(tools = {"nft"})
class Ipv6DualStackIT {
    private static final String TABLE4 = "synproxy_any_8080";
    private static final String TABLE6 = "synproxy_any6_8080";

    private static String[] dualStack() {
        return new String[] {"run", "--listen", "0.0.0.0:8080", "--listen", "[::]:8080",
            "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "500ms"};
    }

    @Test
    void shouldServeIpv4AndIpv6ClientsFromOneProcessAndRemoveBothGuards() throws Exception {
        try (TestNet net = TestNet.pairWithIpv6(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), dualStack())) {
            proxy.awaitStarted();
            String tables = tables(net);
            assertTrue(tables.contains(TABLE4) && tables.contains(TABLE6), "one guard per family: " + tables);
            assertTrue(proxy.output().contains("0.0.0.0:8080, [0:0:0:0:0:0:0:0]:8080"), proxy.output());

            Map<String, Long> before = net.tcpCounters(net.clientNs());
            int each = 100;
            List<Future<Long>> results = new ArrayList<>();
            for (int i = 0; i < each; i++) {
                int n = i;
                results.add(net.inClient(() -> Clients.echoOnce(Clients.PROXY, n, 5000)));
                results.add(net.inClient(() -> Clients.echoOnce(Clients.PROXY6, n, 5000)));
            }
            for (Future<Long> r : results) {
                r.get();
            }
            Map<String, Long> after = net.tcpCounters(net.clientNs());
            long dataRetrans = after.get("Tcp:RetransSegs") - before.get("Tcp:RetransSegs")
                    - (after.get("TcpExt:TCPSynRetrans") - before.get("TcpExt:TCPSynRetrans"));
            Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
            System.out.printf("Ipv6DualStackIT: %d IPv4 and %d IPv6 clients served, %d data retransmissions; %s%n",
                    each, each, dataRetrans, stats);
            assertEquals(0, dataRetrans, "data segments the clients had to retransmit");
            assertTrue(stats.get("handoffs") >= 2L * each, "handoffs: " + stats);
            assertEquals(0, stats.get("rejected"), "nothing of a real client rejected: " + stats);
            assertEquals(2 * each, backend.accepted(), "IPv4 and IPv6 clients reached the (IPv4) backend");

            int code = proxy.terminate(Duration.ofSeconds(5));
            assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code + "\n" + proxy.output());
            tables = tables(net);
            assertFalse(tables.contains(TABLE4) || tables.contains(TABLE6), "both guards removed: " + tables);
        }
    }

    @Test
    void shouldFailClosedOverIpv6AfterKillAndRemoveBothStaleGuards() throws Exception {
        try (TestNet net = TestNet.pairWithIpv6()) {
            try (ProxyProcess first = ProxyProcess.start(net, net.serverNs(), dualStack())) {
                first.awaitStarted();
                first.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            assertTrue(tables(net).contains(TABLE6), "kill -9 leaves the IPv6 guard: fail-closed");
            // No listener and no proxy: without the ip6 guard the kernel would answer RST (connection refused).
            assertThrows(SocketTimeoutException.class, () -> net.inClientNow(() -> {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(TestNet.SERVER_IP6, 8080), 1500);
                }
                return null;
            }));
            Result removed = run(net, "guard", "--remove", "--listen", "[::]:8080", "--listen", "0.0.0.0:8080");
            assertEquals(0, removed.code(), removed.output());
            assertTrue(removed.output().contains("removed table inet " + TABLE6), removed.output());
            assertTrue(removed.output().contains("removed table inet " + TABLE4), removed.output());
            assertFalse(tables(net).contains("synproxy"), "guard --remove clears both");
            // Now the kernel answers again: refused, not a timeout.
            assertThrows(ConnectException.class, () -> net.inClientNow(() -> {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(TestNet.SERVER_IP6, 8080), 1500);
                }
                return null;
            }));
        }
    }

    @Test
    void shouldRefuseOverlappingOrUnsupportedIpv6Listens() throws Exception {
        try (TestNet net = TestNet.pairWithIpv6()) {
            expectUsage(net, "overlaps", "--listen", "[::]:8080", "--listen", "[" + TestNet.SERVER_IP6 + "]:8080");
            expectUsage(net, "overlaps", "--listen", "0.0.0.0:8080", "--listen", TestNet.SERVER_IP + ":8080");
            expectUsage(net, "link-local", "--listen", "[fe80::1]:8080");
            Result notLocal = run(net, "run", "--listen", "[fd00:200::99]:8080", "--backend", "127.0.0.1:9000");
            assertEquals(1, notLocal.code(), notLocal.output());
            assertTrue(notLocal.output().contains("is not an address of this host"), notLocal.output());
            assertFalse(tables(net).contains("synproxy"), "nothing left installed");
        }
    }

    private static void expectUsage(TestNet net, String text, String... listens) throws Exception {
        List<String> args = new ArrayList<>(List.of("run"));
        args.addAll(List.of(listens));
        args.addAll(List.of("--backend", "127.0.0.1:9000"));
        Result r = run(net, args.toArray(String[]::new));
        assertEquals(2, r.code(), r.output());
        assertTrue(r.output().contains(text), "expected '" + text + "' in: " + r.output());
        assertFalse(tables(net).contains("synproxy"), "nothing installed");
    }

    private static String tables(TestNet net) throws IOException {
        return net.exec(net.serverNs(), "nft", "list", "tables");
    }

    private record Result(int code, String output) {
    }

    private static Result run(TestNet net, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProxyProcess.java(), "-jar", ProxyProcess.jar().toString()));
        cmd.addAll(List.of(args));
        Process p = net.start(net.serverNs(), ProcessBuilder.Redirect.PIPE, cmd.toArray(String[]::new));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "finished: " + cmd);
        return new Result(p.exitValue(), out);
    }
}
