package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Long-lived connections: an established connection does not depend on the cookie key that let
 * it in, so it keeps working across many key rotations (1 s keys here); {@code --keepalive} makes
 * both legs send probes while idle (counted with nftables counters: on the client host for the
 * client leg, on the proxy host's loopback for the backend leg), and a client that stops answering
 * them is dropped and its backend connection closed.
 */
@RequiresRoot(tools = {"nft"})
class KeepaliveIT {
    private static final Pattern PACKETS = Pattern.compile("counter packets (\\d+)");

    @Test
    @SuppressWarnings("try") // the backend only needs to exist
    void shouldKeepAnIdleConnectionWorkingAcrossKeyRotationsWithKeepaliveProbesOnBothLegs() throws Exception {
        int clientPort = 47001;
        try (TestNet net = TestNet.pair();
             EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--key-rotation", "1s", "--keepalive", "1s,1s,3",
                     "--stats-interval", "500ms")) {
            proxy.awaitStarted();
            net.exec(net.clientNs(), "nft", "add table inet ka; add chain inet ka in { type filter hook input priority 0; }; "
                    + "add rule inet ka in ip saddr " + TestNet.SERVER_IP + " tcp sport 8080 tcp dport " + clientPort + " counter");
            net.exec(net.serverNs(), "nft", "add table inet ka; add chain inet ka out { type filter hook output priority 0; }; "
                    + "add rule inet ka out ip daddr 127.0.0.1 tcp dport " + EchoBackend.PORT + " counter");
            try (Socket s = connect(net, clientPort)) {
                echo(s, "first");
                long clientLegBefore = packets(net, net.clientNs());
                long backendLegBefore = packets(net, net.serverNs());
                // Idle for 3.5 rotations: only keepalive probes (and their answers) cross either leg.
                Thread.sleep(3500);
                long clientLegProbes = packets(net, net.clientNs()) - clientLegBefore;
                long backendLegProbes = packets(net, net.serverNs()) - backendLegBefore;
                System.out.printf("KeepaliveIT: 3.5 s idle with --keepalive 1s,1s,3: %d probes proxy->client, "
                        + "%d probes proxy->backend%n", clientLegProbes, backendLegProbes);
                assertTrue(clientLegProbes >= 2, "keepalive probes on the client leg: " + clientLegProbes);
                assertTrue(backendLegProbes >= 2, "keepalive probes on the backend leg: " + backendLegProbes);
                // Still the same connection, five and more key rotations after its handshake.
                for (int i = 0; i < 6; i++) {
                    echo(s, "after rotation " + i);
                    Thread.sleep(300);
                }
            }
            // New connections are minted and checked with the current keys.
            try (Socket s = connect(net, clientPort + 1)) {
                echo(s, "new connection");
            }
            Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
            System.out.println("KeepaliveIT: " + stats);
            assertEquals(2, stats.get("handoffs"), stats.toString());
            assertEquals(0, stats.get("ack_invalid"), "keepalive answers are not mistaken for handshakes: " + stats);
        }
    }

    @Test
    @SuppressWarnings("try") // the backend only needs to exist
    void shouldDropAClientThatStopsAnsweringKeepaliveAndCloseItsBackendConnection() throws Exception {
        int clientPort = 47101;
        try (TestNet net = TestNet.pair();
             EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--keepalive", "1s,1s,2",
                     "--stats-interval", "500ms")) {
            proxy.awaitStarted();
            try (Socket s = connect(net, clientPort)) {
                echo(s, "hello");
                assertEquals(1, proxy.nextStats(Duration.ofSeconds(5)).get("live"));
                // The client host vanishes: nothing from the proxy reaches it any more, nothing is answered.
                net.exec(net.clientNs(), "nft", "add table inet ka; add chain inet ka in { type filter hook input priority 0; }; "
                        + "add rule inet ka in ip saddr " + TestNet.SERVER_IP + " tcp sport 8080 drop");
                // 1 s idle + 2 unanswered probes 1 s apart: gone after about 3 s; allow for a loaded host.
                long live = 1;
                long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
                while (live != 0 && System.nanoTime() < deadline) {
                    live = proxy.nextStats(Duration.ofSeconds(5)).get("live");
                }
                assertEquals(0, live, "the proxy dropped the dead client: " + proxy.output());
                Map<String, Long> server = net.tcpCounters(net.serverNs());
                System.out.printf("KeepaliveIT: dead client dropped by keepalive; server host TCPKeepAlive=%d, TCPAbortOnTimeout=%d%n",
                        server.get("TcpExt:TCPKeepAlive"), server.get("TcpExt:TCPAbortOnTimeout"));
                assertTrue(server.get("TcpExt:TCPAbortOnTimeout") >= 1, "aborted by the keepalive timer: " + server);
            }
        }
    }

    private static Socket connect(TestNet net, int clientPort) throws Exception {
        Socket s = net.inClientNow(() -> {
            Socket sock = new Socket();
            sock.setReuseAddress(true);
            sock.bind(new InetSocketAddress(TestNet.CLIENT_IP, clientPort));
            return sock;
        });
        s.setSoTimeout(10_000);
        s.connect(Clients.PROXY, 5000);
        return s;
    }

    private static void echo(Socket s, String text) throws IOException {
        byte[] msg = (text + "\n").getBytes(StandardCharsets.US_ASCII);
        OutputStream out = s.getOutputStream();
        InputStream in = s.getInputStream();
        out.write(msg);
        out.flush();
        assertArrayEquals(msg, in.readNBytes(msg.length), "echo of '" + text + "'");
    }

    private static long packets(TestNet net, String ns) throws IOException {
        Matcher m = PACKETS.matcher(net.exec(ns, "nft", "list", "table", "inet", "ka"));
        assertTrue(m.find(), "counter in " + ns);
        return Long.parseLong(m.group(1));
    }
}
