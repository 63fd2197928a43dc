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
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A spoofed SYN flood (hping3, random sources, as fast as one core sends) while real clients connect. */
@RequiresRoot(tools = {"nft", "hping3", "ss"})
class FloodIT {
    @Test
    void shouldServeRealClientsUnderSpoofedSynFloodWithNoHalfOpenSocket() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "1s")) {
            proxy.awaitStarted();
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            Process flood = net.start(net.clientNs(), ProcessBuilder.Redirect.DISCARD,
                    "timeout", "25", "hping3", "--flood", "--rand-source", "-S", "-p", "8080", TestNet.SERVER_IP);
            try {
                Thread.sleep(2000);
                int connections = 200;
                List<Future<Long>> results = new ArrayList<>();
                for (int i = 0; i < connections; i++) {
                    int n = i;
                    results.add(net.inClient(() -> {
                        try {
                            return Clients.echoOnce(n, 3000);
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
                assertTrue(flood.isAlive(), "the flood ran for the whole test");
                long syns = during.get("syn") - before.get("syn");
                System.out.printf("FloodIT: %d/%d clients succeeded under %d flood SYNs; %d syn-recv samples empty; %s%n",
                        ok, connections, syns, synRecvSamples, during);
                assertTrue(syns > 50_000, "the flood reached the proxy: " + syns + " SYNs");
                assertTrue(ok >= connections * 99 / 100, ok + " of " + connections + " clients succeeded");
                assertTrue(backend.accepted() >= ok, "each success reached the backend: " + backend.accepted());
                assertEquals("", net.exec(net.serverNs(), "ss", "-Htan", "state", "syn-recv", "sport", "=", ":8080").trim());
            } finally {
                flood.destroy();
            }
            assertTrue(proxy.process().isAlive(), "the proxy survived the flood");
        }
    }
}
