package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --syn-path tc} (and the XDP paths): the BPF program answers a spoofed SYN flood (hping3) in the kernel while
 * real clients, Linux's own TCP stack, complete handshakes whose final ACK the Java front end verifies; the program
 * stops answering when the proxy stops, and when it is killed.
 */
@RequiresRoot(tools = {"nft", "hping3", "ip"})
class XdpIT {
    @Test
    void shouldAnswerTheFloodInTheKernelAndServeRealClients() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "1s")) {
            proxy.awaitStarted();
            assertTrue(proxy.output().contains("SYNs answered in the kernel at tc (--syn-path auto)"),
                    "the default attaches at tc where it can: " + proxy.output());
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            int connections = 200;
            int ok;
            long floodRate;
            // The helper stops hping3 itself (SIGINT to the child of ip netns exec), not only its launcher.
            try (Hping flood = Hping.flood(net, "-S", 25)) {
                Thread.sleep(2000);
                ok = Clients.echoAll(net, connections, 3000);
                flood.stop();
                floodRate = flood.rate();
            }
            Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
            long xdp = after.getOrDefault("bpf_synack", 0L) - before.getOrDefault("bpf_synack", 0L);
            long ring = after.get("ring_packets") == null ? -1 : after.get("ring_packets");
            System.out.printf("XdpIT: %d/%d clients under %d SYN/s, %d SYN/ACKs from the program, %s%n", ok,
                    connections, floodRate, xdp, after);
            assertTrue(xdp > 50_000, "the flood was answered in the kernel: " + xdp);
            assertTrue(after.get("synack") - before.get("synack") >= xdp, "synack counts XDP's too");
            assertTrue(ok >= connections * 99 / 100, ok + " of " + connections + " clients succeeded");
            assertTrue(after.get("handoffs") - before.get("handoffs") >= ok, "each client was handed off: " + after);
            assertTrue(backend.accepted() >= ok, "each success reached the backend: " + backend.accepted());
            assertTrue(ring < 0 || ring < xdp, "the flood's SYNs did not reach the capture ring: " + ring);
            // Untagged, each client's ACKs of its echo and of the proxy's FIN would reach the rings (ack_live 2 each).
            long liveAcks = after.get("ack_live") - before.get("ack_live");
            assertTrue(liveAcks < connections / 10, "the live connections' ACKs stayed out of the rings: " + liveAcks);
            // trafgen's frames, sent from a packet ring, keep only their Ethernet header in the buffer's linear part:
            // the tc program pulls in the rest.
            Map<String, Long> ringBefore = proxy.nextStats(Duration.ofSeconds(5));
            try (Trafgen trafgen = Trafgen.synFlood(net)) {
                Thread.sleep(3000);
                assertTrue(trafgen.isAlive(), "trafgen ran");
            }
            Map<String, Long> ringAfter = proxy.nextStats(Duration.ofSeconds(5));
            long fromRing = ringAfter.getOrDefault("bpf_synack", 0L) - ringBefore.getOrDefault("bpf_synack", 0L);
            System.out.printf("XdpIT: trafgen: %d SYN/ACKs from the program, %d syn%n", fromRing,
                    ringAfter.get("syn") - ringBefore.get("syn"));
            assertTrue(fromRing > 50_000, "trafgen's flood was answered in the kernel: " + fromRing);
            long syn = ringAfter.get("syn") - ringBefore.get("syn");
            assertTrue(Math.abs(syn - fromRing) < fromRing / 100 + 1000,
                    "syn counts the program's SYNs as the ring's are counted (martians apart): " + syn);
            assertTrue(proxy.terminate(Duration.ofSeconds(30)) >= 0, "stopped on SIGTERM: " + proxy.output());
            assertEquals(0, synAcks(net), "no SYN/ACK once the proxy is gone");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tc", "xdp-generic"})
    void shouldLeaveNoProgramBehindWhenKilled(String path) throws Exception {
        try (TestNet net = TestNet.pair();
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "1s", "--syn-path", path)) {
            proxy.awaitStarted();
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            assertEquals(3, synAcks(net), "hping3's SYNs are answered");
            Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
            assertEquals(3, after.getOrDefault("bpf_synack", 0L) - before.getOrDefault("bpf_synack", 0L),
                    "by the program: " + after);
            assertEquals(path.startsWith("xdp"), xdpAttached(net));
            proxy.process().destroyForcibly();
            assertTrue(proxy.process().waitFor(10, TimeUnit.SECONDS));
            // The kernel releases the BPF link with the process's last descriptor; the guard, left by the kill, then
            // drops the SYNs unanswered.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (xdpAttached(net) && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertFalse(xdpAttached(net), "a killed proxy's program left " + net.serverDev());
            assertEquals(0, synAcks(net), "a killed proxy's program still answers");
        }
    }

    /**
     * IPv4 and IPv6 listens share a capture ring bound to ETH_P_ALL, which gets every frame before tc ingress: the
     * default leaves the SYNs to the ring there (one SYN/ACK per SYN, not one from each), and tc is refused.
     */
    @Test
    void shouldLeaveDualStackSynsToTheRing() throws Exception {
        try (TestNet net = TestNet.pairWithIpv6()) {
            // The repair handoff's capture: the kernel's captures nothing and takes both families at tc.
            String[] listens = {"--listen", TestNet.SERVER_IP + ":8080", "--listen", "[" + TestNet.SERVER_IP6 + "]:8080",
                "--backend", "127.0.0.1:" + EchoBackend.PORT, "--handoff", "repair"};
            try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), concat("run", listens, "--syn-path", "tc"))) {
                assertTrue(proxy.process().waitFor(60, TimeUnit.SECONDS));
                String out = proxy.output();
                assertEquals(1, proxy.process().exitValue(), out);
                assertTrue(out.contains("--syn-path tc: IPv4 and IPv6 listens share one capture ring"), out);
                assertFalse(out.contains("Exception") || out.contains("\tat "), "no stack trace: " + out);
            }
            try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), concat("run", listens, "--stats-interval",
                    "1s"))) {
                proxy.awaitStarted();
                assertTrue(proxy.output().contains("SYNs answered from the capture ring (--syn-path auto: IPv4 and IPv6 "
                        + "listens share one capture ring"), proxy.output());
                Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
                assertEquals(3, synAcks(net), "one SYN/ACK for each of hping3's three SYNs");
                Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
                assertEquals(3, after.get("synack") - before.get("synack"), after.toString());
                assertEquals(0, after.getOrDefault("bpf_synack", 0L), after.toString());
            }
        }
    }

    /** A container granted NET_ADMIN and NET_RAW only: the default answers from the ring and says why; tc refuses. */
    @Test
    void shouldFallBackToTheRingWithoutCapBpf() throws Exception {
        try (TestNet net = TestNet.pair()) {
            ProxyProcess.Launcher noBpf = (out, command) -> {
                List<String> all = new ArrayList<>(List.of("setpriv", "--bounding-set=-bpf,-sys_admin",
                        "--inh-caps=-bpf,-sys_admin"));
                all.addAll(List.of(command));
                return net.start(net.serverNs(), out, all.toArray(String[]::new));
            };
            String[] run = {"run", "--listen", TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:" + EchoBackend.PORT,
                "--stats-interval", "1s"};
            try (ProxyProcess proxy = ProxyProcess.start(noBpf, run)) {
                proxy.awaitStarted();
                assertTrue(proxy.output().contains("SYNs answered from the capture ring (--syn-path auto: the kernel "
                        + "refused the BPF program (Operation not permitted"), proxy.output());
                // --handoff auto tried the kernel's handoff first, whose program the kernel refused too.
                assertTrue(proxy.output().contains("(--handoff auto: repair, the kernel refused the BPF program"),
                        proxy.output());
                assertFalse(proxy.output().contains("libbpf"), "libbpf's own warnings stay quiet: " + proxy.output());
                Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
                assertEquals(3, synAcks(net), "the ring answers");
                Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
                assertEquals(3, after.get("synack") - before.get("synack"), after.toString());
                assertEquals(0, after.getOrDefault("bpf_synack", 0L), after.toString());
            }
            try (ProxyProcess proxy = ProxyProcess.start(noBpf, concat(run[0], Arrays.copyOfRange(run, 1,
                    run.length), "--syn-path", "tc"))) {
                assertTrue(proxy.process().waitFor(60, TimeUnit.SECONDS));
                String out = proxy.output();
                assertEquals(1, proxy.process().exitValue(), out);
                assertTrue(out.contains("--syn-path tc: the kernel refused the BPF program"), out);
                assertEquals(1, out.strip().lines().count(), "one sentence: " + out);
            }
        }
    }

    private static String[] concat(String first, String[] middle, String... last) {
        List<String> all = new ArrayList<>(List.of(first));
        all.addAll(List.of(middle));
        all.addAll(List.of(last));
        return all.toArray(String[]::new);
    }

    @Test
    void shouldRefuseXdpWithOneSentenceWhereItCannotRun() throws Exception {
        try (TestNet net = TestNet.pair()) {
            String[][] cases = {
                {"--listen", TestNet.SERVER_IP + ":8080", "--syn-path", "fast"},
                {"--listen", "127.0.0.1:8081", "--interface", "lo", "--syn-path", "tc"},
            };
            for (String[] args : cases) {
                List<String> all = new ArrayList<>(List.of("run", "--backend", "127.0.0.1:" + EchoBackend.PORT));
                all.addAll(List.of(args));
                try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), all.toArray(String[]::new))) {
                    assertTrue(proxy.process().waitFor(60, TimeUnit.SECONDS), String.join(" ", args));
                    String out = proxy.output();
                    assertTrue(proxy.process().exitValue() != 0, out);
                    assertTrue(out.contains("--syn-path"), "says what was refused: " + out);
                    assertFalse(out.contains("Exception") || out.contains("\tat "), "no stack trace: " + out);
                }
                assertFalse(xdpAttached(net));
            }
        }
    }

    /** SYN/ACKs for three SYNs from hping3. */
    private static int synAcks(TestNet net) throws IOException {
        String out;
        try {
            out = net.exec(net.clientNs(), "hping3", "-S", "-p", "8080", "-c", "3", "-i", "u200000", TestNet.SERVER_IP);
        } catch (IOException e) {
            out = e.getMessage(); // hping3 exits 1 when nothing answered
        }
        return out.split("flags=SA", -1).length - 1;
    }

    private static boolean xdpAttached(TestNet net) throws IOException {
        return net.exec(net.serverNs(), "ip", "link", "show", net.serverDev()).contains("prog/xdp");
    }
}
