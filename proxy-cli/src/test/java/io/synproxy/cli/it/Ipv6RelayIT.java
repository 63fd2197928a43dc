package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link RelayIT} over IPv6: real Linux TCP clients at fd00:200::2 through the proxy on [fd00:200::1]:8080 to an
 * IPv6 backend on [::1]:9000.
 */
@RequiresRoot(tools = {"nft"})
class Ipv6RelayIT {
    private static TestNet net;
    private static EchoBackend backend;
    private static ProxyProcess proxy;

    @BeforeAll
    static void start() throws Exception {
        net = TestNet.pairWithIpv6();
        backend = EchoBackend.start(net, "::1");
        proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", "[" + TestNet.SERVER_IP6 + "]:8080",
                "--backend", "[::1]:" + EchoBackend.PORT, "--stats-interval", "500ms");
        proxy.awaitStarted();
    }

    @AfterAll
    static void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (backend != null) {
            backend.close();
        }
        if (net != null) {
            net.close();
        }
    }

    @Test
    void shouldRelayTwoHundredIpv6ConnectionsAndServeEachFirstResponseWithoutRetransmission() throws Exception {
        int connections = 200;
        Map<String, Long> before = net.tcpCounters(net.clientNs());
        List<Future<Long>> results = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            int n = i;
            results.add(net.inClient(() -> Clients.echoOnce(Clients.PROXY6, n, 5000)));
        }
        long[] micros = new long[connections];
        for (int i = 0; i < connections; i++) {
            micros[i] = results.get(i).get() / 1000;
        }
        Arrays.sort(micros);
        System.out.printf("Ipv6RelayIT: %d connections, connect+first echo p50=%d us p99=%d us max=%d us%n",
                connections, micros[connections / 2], micros[connections * 99 / 100], micros[connections - 1]);
        Map<String, Long> after = net.tcpCounters(net.clientNs());
        // /proc/net/snmp's Tcp counters cover IPv4 and IPv6 alike.
        long retrans = delta(before, after, "Tcp:RetransSegs");
        long synRetrans = delta(before, after, "TcpExt:TCPSynRetrans");
        System.out.printf("Ipv6RelayIT: client retransmitted %d segments (%d SYNs), sent %d zero-window probes%n",
                retrans, synRetrans, delta(before, after, "TcpExt:TCPWinProbe"));
        assertEquals(0, retrans - synRetrans, "data segments the client had to retransmit");
        Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
        assertTrue(stats.get("handoffs") >= connections, "handoffs: " + stats);
        assertEquals(0, stats.get("rejected"), "no IPv6 frame of a real client is rejected: " + stats);
        assertTrue(backend.accepted() >= connections, "each connection reached the IPv6 backend");
    }

    @RepeatedTest(3)
    void shouldCarryTenMegabytesEachWayIntactAcrossAHalfCloseOverIpv6() throws Exception {
        int size = 10 * 1024 * 1024;
        byte[] sent = new byte[size];
        new Random(42).nextBytes(sent);
        byte[] expectedDigest = Clients.sha256(sent);
        byte[] received = net.inClientNow(() -> {
            try (Socket s = new Socket()) {
                s.setSoTimeout(30_000);
                s.connect(Clients.PROXY6, 5000);
                OutputStream out = s.getOutputStream();
                Future<?> writer = net.inClient(() -> {
                    out.write(sent);
                    out.flush();
                    s.shutdownOutput();
                    return null;
                });
                InputStream in = s.getInputStream();
                byte[] all = in.readNBytes(size + 32);
                writer.get();
                assertEquals(-1, in.read(), "the backend closes after its digest");
                return all;
            }
        });
        assertEquals(size + 32, received.length, "bytes back");
        MessageDigest echoed = MessageDigest.getInstance("SHA-256");
        echoed.update(received, 0, size);
        assertArrayEquals(expectedDigest, echoed.digest(), "client to backend to client: 10 MB echoed intact");
        assertArrayEquals(expectedDigest, Arrays.copyOfRange(received, size, size + 32),
                "backend received 10 MB intact, its digest sent after our FIN");
    }

    private static long delta(Map<String, Long> before, Map<String, Long> after, String key) {
        return after.getOrDefault(key, 0L) - before.getOrDefault(key, 0L);
    }
}
