package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --xdp skb}: the XDP program answers a spoofed SYN flood (hping3) in the kernel while real clients, Linux's
 * own TCP stack, complete handshakes whose final ACK the Java front end verifies; the program leaves the interface
 * when the proxy stops, and when it is killed.
 */
@RequiresRoot(tools = {"nft", "hping3", "ip"})
class XdpIT {
    @Test
    void shouldAnswerTheFloodInXdpAndServeRealClients() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "1s", "--xdp", "skb")) {
            proxy.awaitStarted();
            assertTrue(proxy.output().contains("IPv4 SYNs answered by XDP (skb mode)"), proxy.output());
            assertTrue(xdpAttached(net), "the program is on " + net.serverDev());
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            Process flood = net.start(net.clientNs(), ProcessBuilder.Redirect.DISCARD,
                    "timeout", "25", "hping3", "--flood", "--rand-source", "-S", "-p", "8080", TestNet.SERVER_IP);
            int connections = 200;
            int ok = 0;
            try {
                Thread.sleep(2000);
                ok = Clients.echoAll(net, connections, 3000);
            } finally {
                flood.destroy();
            }
            Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
            long xdp = after.getOrDefault("xdp_synack", 0L) - before.getOrDefault("xdp_synack", 0L);
            long ring = after.get("ring_packets") == null ? -1 : after.get("ring_packets");
            System.out.printf("XdpIT: %d/%d clients, %d SYN/ACKs from XDP, %s%n", ok, connections, xdp, after);
            assertTrue(xdp > 50_000, "the flood was answered in XDP: " + xdp);
            assertTrue(after.get("synack") - before.get("synack") >= xdp, "synack counts XDP's too");
            assertTrue(ok >= connections * 99 / 100, ok + " of " + connections + " clients succeeded");
            assertTrue(after.get("handoffs") - before.get("handoffs") >= ok, "each client was handed off: " + after);
            assertTrue(backend.accepted() >= ok, "each success reached the backend: " + backend.accepted());
            assertTrue(ring < 0 || ring < xdp, "the flood's SYNs did not reach the capture ring: " + ring);
            assertTrue(proxy.terminate(Duration.ofSeconds(30)) >= 0, "stopped on SIGTERM: " + proxy.output());
            assertFalse(xdpAttached(net), "the program left " + net.serverDev() + " with the proxy");
        }
    }

    @Test
    void shouldLeaveNoProgramBehindWhenKilled() throws Exception {
        try (TestNet net = TestNet.pair();
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--xdp", "skb")) {
            proxy.awaitStarted();
            assertTrue(xdpAttached(net));
            proxy.process().destroyForcibly();
            assertTrue(proxy.process().waitFor(10, TimeUnit.SECONDS));
            // The kernel releases the BPF link with the process's last descriptor.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (xdpAttached(net) && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertFalse(xdpAttached(net), "a killed proxy's program left " + net.serverDev());
        }
    }

    @Test
    void shouldRefuseXdpWithOneSentenceWhereItCannotRun() throws Exception {
        try (TestNet net = TestNet.pair()) {
            String[][] cases = {
                {"--listen", TestNet.SERVER_IP + ":8080", "--xdp", "fast"},
                {"--listen", "127.0.0.1:8081", "--interface", "lo", "--xdp", "skb"},
            };
            for (String[] args : cases) {
                List<String> all = new ArrayList<>(List.of("run", "--backend", "127.0.0.1:" + EchoBackend.PORT));
                all.addAll(List.of(args));
                try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), all.toArray(String[]::new))) {
                    assertTrue(proxy.process().waitFor(60, TimeUnit.SECONDS), String.join(" ", args));
                    String out = proxy.output();
                    assertTrue(proxy.process().exitValue() != 0, out);
                    assertTrue(out.contains("--xdp"), "says what was refused: " + out);
                    assertFalse(out.contains("Exception") || out.contains("\tat "), "no stack trace: " + out);
                }
                assertFalse(xdpAttached(net));
            }
        }
    }

    private static boolean xdpAttached(TestNet net) throws IOException {
        return net.exec(net.serverNs(), "ip", "link", "show", net.serverDev()).contains("prog/xdp");
    }
}
