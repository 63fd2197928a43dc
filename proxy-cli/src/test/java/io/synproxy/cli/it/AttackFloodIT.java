package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ACK floods with random cookies, RST floods and FIN floods from spoofed random sources, as fast as
 * hping3 sends: the proxy keeps answering SYNs and serving real clients, counts every flood packet
 * it reads (invalid ACK, or "other" for RST/FIN) and never builds a socket for one; the BPF program (attached at tc by
 * default) drops at least 95% of them in the kernel ({@code bpf_dropped}).
 */
@RequiresRoot(tools = {"nft", "hping3"})
class AttackFloodIT {
    private static final int CLIENTS = 40;
    private static final int SECONDS = 8;

    @Test
    void shouldServeRealClientsAndCountEveryPacketOfAckRstAndFinFloods() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "500ms")) {
            proxy.awaitStarted();
            assertTrue(proxy.output().contains("answered in the kernel at tc"), "the BPF program is attached: "
                    + proxy.output());
            for (String[] attack : new String[][] {{"ACK", "-A", "ack_invalid"}, {"RST", "-R", "other"},
                    {"FIN", "-F", "other"}}) {
                Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
                long softnetBefore = softnetDrops();
                int accepted = backend.accepted();
                long sent;
                int ok = 0;
                long rate;
                try (Hping flood = Hping.flood(net, attack[1], SECONDS + 20)) {
                    Thread.sleep(1500);
                    ok = Clients.echoAll(net, CLIENTS, 5000);
                    Thread.sleep(Math.max(0, SECONDS * 1000L - 1500 - 0));
                    assertTrue(flood.isAlive(), "the flood ran for the whole test");
                    sent = flood.stop();
                    rate = flood.rate();
                }
                Thread.sleep(1000);
                Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
                long softnet = softnetDrops() - softnetBefore;
                long counted = delta(after, before, attack[2]);
                // hping3's random sources include martian ones (0/8, 127/8, 224/4, 240/4: about 13%), dropped as such.
                long martian = delta(after, before, "martian");
                long ringDrops = delta(after, before, "ring_drops");
                long handoffs = delta(after, before, "handoffs");
                System.out.printf("AttackFloodIT %s flood: hping3 sent %d (%d pps); proxy counted %s=%d martian=%d "
                                + "ring_drops=%d (kernel backlog drops %d); syn=%d synack=%d handoffs=%d; real clients "
                                + "%d/%d; %s%n",
                        attack[0], sent, rate, attack[2], counted, martian, ringDrops, softnet,
                        delta(after, before, "syn"), delta(after, before, "synack"), handoffs, ok, CLIENTS, after);
                assertEquals(CLIENTS, ok, "every real client was served during the " + attack[0] + " flood");
                // A random ACK carries a valid cookie with probability 2^-22 (23-bit MAC, two accepted forms), so
                // ~2M random ACKs forge about 0.48 sockets: 0 most runs, 1 in about one run of three. That is
                // the cookie's strength, not a bug; more than 4 (p < 2e-4) would be. RST and FIN never verify.
                long forged = handoffs - CLIENTS;
                long forgedAllowed = attack[0].equals("ACK") ? 4 : 0;
                System.out.printf("AttackFloodIT %s flood: %d forged cookie(s), %.2f expected%n", attack[0], forged,
                        attack[0].equals("ACK") ? counted / 4_194_304.0 : 0.0);
                assertTrue(forged >= 0 && forged <= forgedAllowed,
                        "one socket per real client, and no more flood sockets than the MAC's odds: " + forged);
                assertEquals(CLIENTS + forged, backend.accepted() - accepted, "only real clients (and forgeries) reached the backend");
                assertTrue(delta(after, before, "synack") >= CLIENTS, "SYNs were answered");
                assertEquals(forged, delta(after, before, "ack_valid") - CLIENTS, "every valid ACK beyond the clients is a forgery");
                assertTrue(sent > 10_000, "the flood ran: " + sent);
                // The program's screen drops them in the kernel, martians included: the loops see the RST rate's share.
                long inKernel = delta(after, before, "bpf_dropped");
                assertTrue(inKernel >= (counted + martian) * 95 / 100, "dropped by the BPF program: " + inKernel
                        + " of " + (counted + martian));
                // Every flood packet that reached the ring was counted; the rest the kernel dropped, counted too.
                assertTrue(counted + martian + ringDrops + softnet >= sent * 99 / 100, "counted " + counted + " + martian "
                        + martian + " + ring drops " + ringDrops + " + backlog drops " + softnet + " of " + sent);
            }
            assertTrue(proxy.process().isAlive(), "the proxy survived");
        }
    }

    static long delta(Map<String, Long> after, Map<String, Long> before, String key) {
        return after.getOrDefault(key, 0L) - before.getOrDefault(key, 0L);
    }

    /** Packets the kernel dropped from its per-CPU input backlogs (all namespaces): /proc/net/softnet_stat column 2. */
    static long softnetDrops() throws IOException {
        long drops = 0;
        for (String line : Files.readAllLines(Path.of("/proc/net/softnet_stat"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 1) {
                drops += Long.parseLong(f[1], 16);
            }
        }
        return drops;
    }
}
