package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FloodIT} over IPv6, the SYNs answered by the BPF program at tc (the default). hping3 has no IPv6, so the
 * flood is trafgen (netsniff-ng) sending raw Ethernet frames from the client host: TCP SYNs to [fd00:200::1]:8080
 * from random sources in fd00:dead::/64 with random ports and sequence numbers, the TCP checksum recomputed per frame
 * ({@code csumtcp6}), on one CPU.
 */
@RequiresRoot(tools = {"nft", "ss", "trafgen"})
class Ipv6FloodIT {
    @Test
    void shouldServeRealIpv6ClientsUnderSpoofedSynFloodWithNoHalfOpenSocket() throws Exception {
        Path config = Files.createTempFile("synproxy-v6flood-", ".cfg");
        try (TestNet net = TestNet.pairWithIpv6(); EchoBackend backend = EchoBackend.start(net, "::1");
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run",
                     "--listen", "[" + TestNet.SERVER_IP6 + "]:8080",
                     "--backend", "[::1]:" + EchoBackend.PORT, "--stats-interval", "1s")) {
            Files.writeString(config, synFlood(net.mac(net.serverNs(), net.serverDev()),
                    net.mac(net.clientNs(), net.clientDev())));
            proxy.awaitStarted();
            assertTrue(proxy.output().contains("SYNs answered in the kernel at tc (--syn-path auto)"),
                    "the default answers IPv6 SYNs in the kernel too: " + proxy.output());
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            long startNanos = System.nanoTime();
            // --no-sock-mem: trafgen would otherwise raise the host-wide socket memory defaults.
            Process flood = net.start(net.clientNs(), ProcessBuilder.Redirect.DISCARD, "timeout", "25", "trafgen",
                    "--no-sock-mem", "-q", "-P", "1", "-i", config.toString(), "-o", net.clientDev());
            try {
                Thread.sleep(2000);
                Map<String, Long> clientBefore = net.tcpCounters(net.clientNs());
                int connections = 200;
                List<Future<Long>> results = new ArrayList<>();
                for (int i = 0; i < connections; i++) {
                    int n = i;
                    results.add(net.inClient(() -> {
                        try {
                            // trafgen on one core offers more SYNs than the proxy drains on this shared host
                            // (ring_drops): a real client whose SYN is lost retries after 1 s and 3 s more.
                            return Clients.echoOnce(Clients.PROXY6, n, 10_000);
                        } catch (IOException e) {
                            return -1L;
                        }
                    }));
                }
                int ok = 0;
                int synRecvSamples = 0;
                for (int i = 0; i < connections; i++) {
                    if (results.get(i).get() >= 0) {
                        ok++;
                    }
                    if (i % 40 == 0) {
                        // The protected port's: the proxy's own connect to the backend on loopback is a real handshake, and ss
                        // can see it half-way.
                        String synRecv = net.exec(net.serverNs(), "ss", "-Htan", "state", "syn-recv", "sport", "=", ":8080");
                        assertEquals("", synRecv.trim(), "half-open sockets on the server host");
                        synRecvSamples++;
                    }
                }
                Map<String, Long> during = proxy.nextStats(Duration.ofSeconds(5));
                Map<String, Long> clientAfter = net.tcpCounters(net.clientNs());
                long synRetrans = clientAfter.get("TcpExt:TCPSynRetrans") - clientBefore.get("TcpExt:TCPSynRetrans");
                double seconds = (System.nanoTime() - startNanos) / 1e9;
                assertTrue(flood.isAlive(), "the flood ran for the whole test");
                long syns = during.get("syn") - before.get("syn");
                long synAcks = during.get("synack") - before.get("synack");
                System.out.printf("Ipv6FloodIT: %d/%d clients succeeded (%d SYN retransmissions) under %d flood SYNs "
                                + "(%.0f/s answered by %d SYN/ACKs); %d syn-recv samples empty; %s%n",
                        ok, connections, synRetrans, syns, syns / seconds, synAcks, synRecvSamples, during);
                assertTrue(syns > 50_000, "the flood reached the proxy: " + syns + " SYNs");
                long fromProgram = during.getOrDefault("bpf_synack", 0L) - before.getOrDefault("bpf_synack", 0L);
                assertTrue(fromProgram >= synAcks * 99 / 100, "the program answered the flood: " + fromProgram
                        + " of " + synAcks + " SYN/ACKs");
                // Untagged, each client's ACKs of its echo and of the proxy's FIN would reach the rings (2 each).
                long liveAcks = during.get("ack_live") - before.get("ack_live");
                assertTrue(liveAcks < connections / 10, "the live connections' ACKs stayed out of the rings: "
                        + liveAcks);
                assertTrue(ok >= connections * 99 / 100, ok + " of " + connections + " clients succeeded");
                assertTrue(backend.accepted() >= ok, "each success reached the backend: " + backend.accepted());
                assertEquals("", net.exec(net.serverNs(), "ss", "-Htan", "state", "syn-recv", "sport", "=", ":8080").trim());
            } finally {
                flood.destroy();
            }
            assertTrue(proxy.process().isAlive(), "the proxy survived the flood");
        } finally {
            Files.deleteIfExists(config);
        }
    }

    /** A trafgen packet: Ethernet, IPv6 (random low 64 source bits), TCP SYN with an MSS option. */
    static String synFlood(String serverMac, String clientMac) {
        return "{\n"
                + "  " + bytes(serverMac) + ", " + bytes(clientMac) + ", c16(0x86dd),\n"
                + "  0x60, 0, 0, 0, c16(24), 6, 64,\n"
                + "  0xfd, 0x00, 0xde, 0xad, 0, 0, 0, 0, drnd(8),\n"
                + "  0xfd, 0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,\n"
                + "  drnd(2), c16(8080), drnd(4), c32(0), 0x60, 0x02, c16(64240), csumtcp6(14, 54), c16(0),\n"
                + "  0x02, 0x04, c16(1440)\n"
                + "}\n";
    }

    private static String bytes(String mac) {
        return "0x" + mac.replace(":", ", 0x");
    }
}
