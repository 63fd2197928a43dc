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

/** Real Linux TCP clients through the packaged proxy to a real backend, in two namespaces. */
@RequiresRoot(tools = {"nft"})
class RelayIT {
    private static TestNet net;
    private static EchoBackend backend;
    private static ProxyProcess proxy;

    @BeforeAll
    static void start() throws Exception {
        net = TestNet.pair();
        backend = EchoBackend.start(net);
        proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "500ms");
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
    void shouldRelayTwoHundredConnectionsAndServeEachFirstResponseWithoutRetransmission() throws Exception {
        int connections = 200;
        Map<String, Long> before = net.tcpCounters(net.clientNs());
        List<Future<Long>> results = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            int n = i;
            results.add(net.inClient(() -> Clients.echoOnce(n, 5000)));
        }
        long[] micros = new long[connections];
        for (int i = 0; i < connections; i++) {
            micros[i] = results.get(i).get() / 1000;
        }
        Arrays.sort(micros);
        System.out.printf("RelayIT: %d connections, connect+first echo p50=%d us p99=%d us max=%d us%n",
                connections, micros[connections / 2], micros[connections * 99 / 100], micros[connections - 1]);
        Map<String, Long> after = net.tcpCounters(net.clientNs());
        long retrans = delta(before, after, "Tcp:RetransSegs");
        long synRetrans = delta(before, after, "TcpExt:TCPSynRetrans");
        System.out.printf("RelayIT: client retransmitted %d segments (%d SYNs), sent %d zero-window probes%n",
                retrans, synRetrans, delta(before, after, "TcpExt:TCPWinProbe"));
        // A first request that raced the handoff would be dropped by the guard and retransmitted by the client
        // (with --no-zero-window it did for ~170 of 200, until the gate passed such segments on again from the
        // capture: LossIT): the zero-window SYN/ACK must hold every request back until the socket exists. A
        // wall-clock bound says the same on an idle host but fails on a loaded runner.
        assertEquals(0, retrans - synRetrans, "data segments the client had to retransmit");
        Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
        assertTrue(stats.get("handoffs") >= connections, "handoffs: " + stats);
    }

    /**
     * A client on the proxy's own host (a health check, an agent) reaches the protected address through lo, not
     * through the captured interface: the proxy captures lo too, so it is served like any other, not left hanging
     * behind the guard.
     */
    @Test
    void shouldServeClientsOnTheProxysOwnHostThroughLoopback() throws Exception {
        Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
        for (int i = 0; i < 20; i++) {
            int n = i;
            assertTrue(net.inServerNow(() -> Clients.echoOnce(n, 3000)) > 0, "local client " + i);
        }
        Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
        assertTrue(after.get("handoffs") - before.get("handoffs") >= 20, before + "\n" + after);
        assertTrue(proxy.output().contains("(and lo, for clients on this host)"), proxy.output());
    }

    // Repeated: a Netty epoll bug (an interest that empties drops the descriptor from epoll; see relay.Leg) cut about
    // half of these short.
    @RepeatedTest(5)
    void shouldCarryTenMegabytesEachWayIntactAcrossAHalfClose() throws Exception {
        int size = 10 * 1024 * 1024;
        byte[] sent = new byte[size];
        new Random(42).nextBytes(sent);
        byte[] expectedDigest = Clients.sha256(sent);
        Map<String, Long> statsBefore = proxy.nextStats(Duration.ofSeconds(5));
        byte[] received = net.inClientNow(() -> {
            try (Socket s = new Socket()) {
                s.setSoTimeout(30_000);
                s.connect(Clients.PROXY, 5000);
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
        if (received.length != size + 32) {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(received, 0, received.length - 32);
            boolean consistent = Arrays.equals(d.digest(), Arrays.copyOfRange(received, received.length - 32, received.length));
            MessageDigest p = MessageDigest.getInstance("SHA-256");
            p.update(sent, 0, received.length - 32);
            System.out.println("RelayIT: short by " + (size + 32 - received.length) + " backendDigestMatchesEcho=" + consistent
                + " echoIsPrefixOfSent=" + Arrays.equals(p.digest(), Arrays.copyOfRange(received, received.length - 32, received.length)));
        }
        Map<String, Long> statsAfter = proxy.nextStats(Duration.ofSeconds(5));
        System.out.printf("RelayIT: 10 MB each way; segments of the live connection that reached the proxy: "
                + "ack_live +%d%n", statsAfter.get("ack_live") - statsBefore.get("ack_live"));
        assertEquals(size + 32, received.length, "bytes back");
        ProxyProcess.assertBulkRelayMode(statsBefore, statsAfter, 2);
        MessageDigest echoed = MessageDigest.getInstance("SHA-256");
        echoed.update(received, 0, size);
        assertArrayEquals(expectedDigest, echoed.digest(), "client to backend to client: 10 MB echoed intact");
        // The digest was written by the backend after it read our FIN: the other direction stayed open.
        assertArrayEquals(expectedDigest, Arrays.copyOfRange(received, size, size + 32),
                "backend received 10 MB intact");
    }

    private static long delta(Map<String, Long> before, Map<String, Long> after, String key) {
        return after.getOrDefault(key, 0L) - before.getOrDefault(key, 0L);
    }
}
