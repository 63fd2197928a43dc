package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.Shell;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The protected address on a Linux bridge, as on a host whose address sits on br0 or a Docker-style bridge.
 * With br_netfilter loaded (Docker loads it and sets {@code bridge-nf-call-iptables=1}), packets to the
 * bridge's address run the IP prerouting hooks while they are still being bridged, before the bridge device's
 * packet taps: a guard in prerouting dropped every SYN before the capture ring could see it, and nothing
 * connected.
 */
@RequiresRoot(tools = {"nft", "ss"})
class BridgeIT {
    private static final int CONNECTIONS = 50;

    @Test
    void shouldServeClientsWhenTheProtectedAddressIsOnABridge() throws Exception {
        try (TestNet net = TestNet.pair()) {
            String ns = net.serverNs();
            net.exec(ns, "ip", "addr", "del", TestNet.SERVER_IP + "/24", "dev", net.serverDev());
            net.exec(ns, "ip", "link", "add", "spbr0", "type", "bridge");
            net.exec(ns, "ip", "link", "set", net.serverDev(), "master", "spbr0");
            net.exec(ns, "ip", "addr", "add", TestNet.SERVER_IP + "/24", "dev", "spbr0");
            net.exec(ns, "ip", "link", "set", "spbr0", "up");
            net.exec(ns, "ip", "route", "replace", "default", "via", TestNet.CLIENT_IP);
            loadBrNetfilter();
            // Per namespace: only this test's server host runs its bridged packets through the IP hooks.
            net.exec(ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1");
            try (EchoBackend backend = EchoBackend.start(net);
                 ProxyProcess proxy = ProxyProcess.start(net, ns, "run", "--listen", TestNet.SERVER_IP + ":8080",
                         "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "500ms")) {
                proxy.awaitStarted();
                assertTrue(proxy.output().contains("interface spbr0"), proxy.output());
                List<Future<Long>> results = new ArrayList<>();
                for (int i = 0; i < CONNECTIONS; i++) {
                    int n = i;
                    results.add(net.inClient(() -> Clients.echoOnce(n, 5000)));
                }
                int ok = 0;
                for (Future<Long> f : results) {
                    try {
                        f.get();
                        ok++;
                    } catch (ExecutionException e) {
                        // counted below
                    }
                }
                Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
                System.out.printf("BridgeIT: br_netfilter on: %d of %d connections through the bridge; %s%n",
                        ok, CONNECTIONS, stats);
                assertEquals(CONNECTIONS, ok, "connections through a proxy on a bridge: " + stats);
                assertTrue(backend.accepted() >= CONNECTIONS, "backend accepted " + backend.accepted());
                assertEquals(0, net.exec(ns, "ss", "-Htan", "state", "syn-recv").lines().count(), "SYN-RECV sockets");
            }
        }
    }

    /**
     * The test is about br_netfilter, so without it there is nothing to test: load it (it stays loaded, as on a
     * Docker host; it changes nothing outside namespaces that set bridge-nf-call-iptables) or fail.
     */
    private static void loadBrNetfilter() throws IOException {
        Path knob = Path.of("/proc/sys/net/bridge/bridge-nf-call-iptables");
        if (!Files.exists(knob)) {
            Shell.sh(Shell.bin("modprobe"), "br_netfilter");
        }
        assertTrue(Files.exists(knob), "br_netfilter is loaded (" + knob + " exists)");
    }
}
