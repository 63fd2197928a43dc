package io.synproxy.cli.it;

import io.synproxy.linux.Constants;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;
import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TcpPacket;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static io.synproxy.cli.it.AttackFloodIT.delta;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real client's final ACK, captured with tcpdump and replayed byte for byte: while its connection
 * is live (the tuple keeps its one socket: with the ring answering SYNs, counted {@code replay_live}; by default the
 * tc program tags the live connection's segments and they never reach the rings), after the connection closed
 * (counted {@code late}, no socket), and a final ACK held back past the cookie lifetime (invalid).
 */
@RequiresRoot(tools = {"nft", "ss", "tcpdump"})
class ReplayIT {
    private static final int ROTATION_SECONDS = 3;
    private static final int REPLAYS = 5;

    /**
     * Replays of a closed connection's final ACK the loops counted late, and those the BPF program dropped (by
     * default): it knows no closed tuples, so once the old cookie has expired (--key-rotation 3s) it drops them as
     * invalid ACKs, unanswered either way, and lets one on for the RST rate, which the loops count late.
     */
    private static long lateOrScreened(Map<String, Long> after, Map<String, Long> before) {
        return delta(after, before, "late") + delta(after, before, "bpf_dropped");
    }

    @ParameterizedTest
    @ValueSource(strings = {"ring", "auto"})
    void shouldNeverBuildASecondSocketFromAReplayedFinalAck(String synPath) throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "300ms",
                     "--key-rotation", ROTATION_SECONDS + "s", "--syn-path", synPath,
                     // The repair handoff's memory of closed tuples: the kernel's, as Linux's own cookies, builds a
                     // connection from a replayed final ACK that finds no socket (README, "The kernel's handoff").
                     "--handoff", "repair");
             Capture capture = Capture.start(net, net.clientNs(), net.clientDev(), "tcp port 8080")) {
            proxy.awaitStarted();
            Socket client = net.inClientNow(() -> {
                Socket s = new Socket();
                s.connect(Clients.PROXY, 5000);
                s.setSoTimeout(5000);
                return s;
            });
            int port = client.getLocalPort();
            byte[] msg = "hello\n".getBytes(StandardCharsets.US_ASCII);
            OutputStream out = client.getOutputStream();
            InputStream in = client.getInputStream();
            out.write(msg);
            assertArrayEquals(msg, in.readNBytes(msg.length), "echo through the proxy");
            byte[] finalAck = null;
            for (int i = 0; i < 50 && finalAck == null; i++) {
                Thread.sleep(20);
                finalAck = finalAck(capture.packets(), port);
            }
            assertNotNull(finalAck, "the client's final ACK was captured: " + capture.describe());
            withTcpChecksum(finalAck);

            // (a) Replayed while the connection is live.
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            replay(net, finalAck, REPLAYS);
            Map<String, Long> live = settle(proxy);
            System.out.printf("ReplayIT live: %d replays -> replay_live +%d, handoffs +%d, ack_valid +%d%n", REPLAYS,
                    delta(live, before, "replay_live"), delta(live, before, "handoffs"), delta(live, before, "ack_valid"));
            if (synPath.equals("ring")) {
                assertTrue(delta(live, before, "replay_live") >= REPLAYS, "each live replay counted: " + live);
            } else {
                assertTrue(proxy.output().contains("answered in the kernel at tc"), proxy.output());
                assertEquals(0, delta(live, before, "replay_live"), "the kernel's socket took them, the rings never "
                        + "saw them: " + live);
            }
            assertEquals(0, delta(live, before, "handoffs"), "no second socket for a live 4-tuple");
            assertEquals(0, delta(live, before, "ack_valid"), "a live tuple's segments never reach the cookie check");
            assertEquals(1, established(net, port), "one socket for the tuple");
            out.write(msg);
            assertArrayEquals(msg, in.readNBytes(msg.length), "the connection still works");

            // (b) Replayed after the connection closed, within the key lifetime.
            client.shutdownOutput();
            in.readNBytes(32);
            assertEquals(-1, in.read());
            client.close();
            Map<String, Long> closed = settle(proxy);
            for (int i = 0; i < 20 && closed.get("live") != 0; i++) {
                closed = proxy.nextStats(Duration.ofSeconds(5));
            }
            assertEquals(0, closed.get("live"));
            replay(net, finalAck, REPLAYS);
            Map<String, Long> late = settle(proxy);
            System.out.printf("ReplayIT closed: %d replays -> late +%d, handoffs +%d, ack_valid +%d%n", REPLAYS,
                    delta(late, closed, "late"), delta(late, closed, "handoffs"), delta(late, closed, "ack_valid"));
            assertEquals(REPLAYS, lateOrScreened(late, closed), "each replay after close counted late");
            assertEquals(0, delta(late, closed, "handoffs"), "no socket for a closed connection's final ACK");
            assertEquals(0, delta(late, closed, "ack_valid"));
            assertEquals(1, backend.accepted(), "the backend saw one connection");

            // (b2) A spoofed SYN for the closed tuple, then the replay: the SYN does not make the proxy forget
            // the old connection, so its final ACK is still late.
            net.inClientNow(() -> send(segment(port, 0x5eed0001, 0, TcpPacket.SYN, true)));
            int spoofedIsn = synAckTo(capture, port, 0x5eed0001 + 1);
            Map<String, Long> spoofed = settle(proxy);
            replay(net, finalAck, REPLAYS);
            Map<String, Long> afterSyn = settle(proxy);
            System.out.printf("ReplayIT SYN then replay: late +%d, bpf_dropped +%d, handoffs +%d%n",
                    delta(afterSyn, spoofed, "late"), delta(afterSyn, spoofed, "bpf_dropped"),
                    delta(afterSyn, spoofed, "handoffs"));
            assertEquals(REPLAYS, lateOrScreened(afterSyn, spoofed), "the old final ACK is still late after a new SYN");
            assertEquals(0, delta(afterSyn, spoofed, "handoffs"), "no socket from a replay behind a spoofed SYN");

            // (b3) A new handshake on that tuple completes: its final ACK carries the new cookie. A SYN of its own, as
            // the two settles since the spoofed one's SYN/ACK can outlast its cookie (--key-rotation 3s) on a slow host.
            net.inClientNow(() -> send(segment(port, 0x5eed1001, 0, TcpPacket.SYN, true)));
            int newIsn = synAckTo(capture, port, 0x5eed1001 + 1);
            assertTrue(newIsn != spoofedIsn, "a new client ISN gets a new cookie");
            net.inClientNow(() -> send(segment(port, 0x5eed1001 + 1, newIsn + 1, TcpPacket.ACK, false)));
            Map<String, Long> reconnected = settle(proxy);
            assertEquals(1, delta(reconnected, afterSyn, "handoffs"), "a new connection on a closed tuple is served: "
                    + reconnected);

            // (c) A final ACK sent within the key lifetime is valid; one held back past it is not.
            int[] ports = {41001, 41002};
            int[] clientIsns = {0x11223344, 0x9abcdef0};
            net.inClientNow(() -> {
                for (int k = 0; k < 2; k++) {
                    send(segment(ports[k], clientIsns[k], 0, TcpPacket.SYN, true));
                }
                return null;
            });
            long synSent = System.nanoTime();
            int[] isns = synAcks(capture, ports);
            Map<String, Long> c0 = proxy.nextStats(Duration.ofSeconds(5));
            net.inClientNow(() -> send(segment(ports[0], clientIsns[0] + 1, isns[0] + 1, TcpPacket.ACK, false)));
            Map<String, Long> c1 = settle(proxy);
            assertEquals(1, delta(c1, c0, "ack_valid"), "a final ACK within the key lifetime verifies: " + c1);
            assertEquals(1, delta(c1, c0, "handoffs"));
            long wait = Duration.ofSeconds(2L * ROTATION_SECONDS + 1).toMillis()
                    - (System.nanoTime() - synSent) / 1_000_000;
            Thread.sleep(Math.max(0, wait));
            net.inClientNow(() -> send(segment(ports[1], clientIsns[1] + 1, isns[1] + 1, TcpPacket.ACK, false)));
            Map<String, Long> c2 = settle(proxy);
            System.out.printf("ReplayIT key lifetime: final ACK at once -> ack_valid +%d handoffs +%d; after %d s -> "
                            + "ack_invalid +%d ack_valid +%d handoffs +%d; %s%n", delta(c1, c0, "ack_valid"),
                    delta(c1, c0, "handoffs"), 2 * ROTATION_SECONDS + 1, delta(c2, c1, "ack_invalid"),
                    delta(c2, c1, "ack_valid"), delta(c2, c1, "handoffs"), c2);
            assertEquals(1, delta(c2, c1, "ack_invalid"), "a final ACK after the key lifetime is invalid");
            assertEquals(0, delta(c2, c1, "ack_valid"));
            assertEquals(0, delta(c2, c1, "handoffs"));
        }
    }

    /**
     * A client that reuses its port while the proxy's side of its last connection is in TIME_WAIT (the backend closed
     * first, so the proxy did): the TIME_WAIT must not see the new final ACK. It used to answer it with the old
     * connection's ACK, the client answered that with a duplicate ACK, and the ring counted it as a replay
     * ({@code replay_live}) on 39% of the connections of a wrk run. The tc program marks that ACK and the guard drops
     * it after the ring has it.
     */
    @Test
    void shouldTakeAReusedTupleOverFromItsTimeWaitWithoutItsAck() throws Exception {
        int backendPort = 9002;
        int clientPort = 41500;
        try (TestNet net = TestNet.pair();
             ServerSocket backend = net.inServerNow(() -> {
                 ServerSocket ss = new ServerSocket();
                 ss.setReuseAddress(true);
                 ss.bind(new InetSocketAddress("127.0.0.1", backendPort), 64);
                 return ss;
             });
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + backendPort, "--stats-interval", "300ms")) {
            Thread.ofVirtual().start(() -> {
                // A server that speaks first and closes first: the proxy passes its FIN on before the client's.
                while (!backend.isClosed()) {
                    try (Socket s = backend.accept()) {
                        s.getOutputStream().write("bye\n".getBytes(StandardCharsets.US_ASCII));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            proxy.awaitStarted();
            assertTrue(proxy.output().contains("answered in the kernel at tc"), proxy.output());
            assertEquals("bye\n", byeFrom(net, clientPort));
            String timeWait = "";
            for (int i = 0; i < 50 && timeWait.isBlank(); i++) {
                Thread.sleep(20);
                timeWait = net.exec(net.serverNs(), "ss", "-Htan", "state", "time-wait", "sport", "=", ":8080",
                        "dport", "=", ":" + clientPort);
            }
            assertTrue(!timeWait.isBlank(), "the proxy closed first and kept the TIME_WAIT");
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            assertEquals("bye\n", byeFrom(net, clientPort));
            Map<String, Long> after = settle(proxy);
            System.out.printf("ReplayIT reused tuple over a TIME_WAIT: handoffs +%d, replay_live +%d, ack_live +%d%n",
                    delta(after, before, "handoffs"), delta(after, before, "replay_live"),
                    delta(after, before, "ack_live"));
            assertEquals(1, delta(after, before, "handoffs"), "the second connection was handed off: " + after);
            assertEquals(0, delta(after, before, "replay_live"), "no duplicate final ACK reached the ring: " + after);
            assertEquals(0, delta(after, before, "ack_live"), "no segment of the live connection reached the ring: "
                    + after);
        }
    }

    /** Connects from {@code port} (reused), reads what the server says until its FIN, closes. */
    private static String byeFrom(TestNet net, int port) throws Exception {
        return net.inClientNow(() -> {
            try (Socket s = new Socket()) {
                s.setReuseAddress(true);
                s.bind(new InetSocketAddress(port));
                s.connect(Clients.PROXY, 5000);
                s.setSoTimeout(5000);
                return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            }
        });
    }

    private static Map<String, Long> settle(ProxyProcess proxy) throws InterruptedException {
        Thread.sleep(700);
        return proxy.nextStats(Duration.ofSeconds(5));
    }

    /** The client's final ACK: its first pure ACK to the proxy without payload. */
    private static byte[] finalAck(List<byte[]> packets, int port) {
        for (byte[] p : packets) {
            if (Capture.srcPort(p) == port && Capture.dstPort(p) == 8080 && Capture.flags(p) == TcpPacket.ACK
                    && Capture.payload(p) == 0) {
                return p;
            }
        }
        return null;
    }

    /**
     * A veth capture holds the client's segments before checksum offload filled in the TCP checksum
     * (only the pseudo-header sum is there); on a real wire it is complete. Complete it here.
     */
    private static void withTcpChecksum(byte[] p) {
        int tcp = Capture.ihl(p);
        p[tcp + 16] = 0;
        p[tcp + 17] = 0;
        int sum = TcpPacket.tcpChecksum(MemorySegment.ofArray(p), 0);
        p[tcp + 16] = (byte) (sum >>> 8);
        p[tcp + 17] = (byte) sum;
    }

    /** Our ISN from the SYN/ACK that answers the client SYN whose ISN is {@code ack - 1}. */
    private static int synAckTo(Capture capture, int port, int ack) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (System.nanoTime() < deadline) {
            for (byte[] p : capture.packets()) {
                if (Capture.srcPort(p) == 8080 && Capture.dstPort(p) == port && Capture.ack(p) == ack
                        && Capture.flags(p) == (TcpPacket.SYN | TcpPacket.ACK)) {
                    return Capture.seq(p);
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("SYN/ACK to port " + port + " not captured");
    }

    /** Our ISNs from the proxy's SYN/ACKs to the given client ports. */
    private static int[] synAcks(Capture capture, int[] ports) throws Exception {
        int[] isns = new int[ports.length];
        boolean[] seen = new boolean[ports.length];
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (System.nanoTime() < deadline) {
            int found = 0;
            for (byte[] p : capture.packets()) {
                for (int k = 0; k < ports.length; k++) {
                    if (Capture.srcPort(p) == 8080 && Capture.dstPort(p) == ports[k]
                            && Capture.flags(p) == (TcpPacket.SYN | TcpPacket.ACK)) {
                        isns[k] = Capture.seq(p);
                        seen[k] = true;
                    }
                }
            }
            for (boolean b : seen) {
                found += b ? 1 : 0;
            }
            if (found == ports.length) {
                return isns;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("SYN/ACKs not captured");
    }

    private static byte[] segment(int port, int seq, int ack, int flags, boolean options) throws Exception {
        TcpPacket packet = TcpPacket.between(TestNet.CLIENT_IP, TestNet.SERVER_IP).ports(port, 8080).seq(seq).ack(ack)
                .flags(flags).window(64240);
        if (options) {
            packet.mss(1460).wscale(7).sackPermitted(true);
        }
        return packet.bytes();
    }

    private static int address(String ip) throws Exception {
        return ByteBuffer.wrap(InetAddress.getByName(ip).getAddress()).getInt();
    }

    private static void replay(TestNet net, byte[] packet, int times) throws Exception {
        net.inClientNow(() -> {
            for (int i = 0; i < times; i++) {
                send(packet);
            }
            return null;
        });
    }

    /** Sends a whole IPv4 packet from the client namespace (call on a client thread). */
    private static Void send(byte[] packet) throws Exception {
        int fd = Native.socket(Constants.AF_INET, Constants.SOCK_RAW, Constants.IPPROTO_RAW);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(packet.length);
            buf.copyFrom(MemorySegment.ofArray(packet));
            MemorySegment to = SockAddr.in(SockAddr.allocateIn(arena), address(TestNet.SERVER_IP), 0);
            long rc = Native.sendto(fd, buf, packet.length, 0, to);
            if (rc != packet.length) {
                throw new IllegalStateException("raw send failed: " + Native.strerror((int) -rc));
            }
        } finally {
            Native.close(fd);
        }
        return null;
    }

    /** Established sockets on the server host for the proxy's port and this client port. */
    private static long established(TestNet net, int port) throws Exception {
        String out = net.exec(net.serverNs(), "ss", "-Htn", "state", "established", "( sport = :8080 and dport = :" + port + " )");
        return out.lines().filter(l -> !l.isBlank()).count();
    }
}
