package io.synproxy.cli.it;

import io.synproxy.linux.Constants;
import io.synproxy.linux.Native;
import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TcpPacket;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Malformed IPv6 packets, extension headers and forged ACKs sent as raw frames (AF_PACKET, so nothing is fixed up on
 * the way) to the protected [fd00:200::1]:8080: each counted under its reason, never fatal; a SYN behind a
 * hop-by-hop header is answered like any other.
 */
@RequiresRoot(tools = {"nft"})
class Ipv6HostileInputIT {
    private static final int EACH = 50;

    @Test
    void shouldCountMalformedIpv6PacketsUnderTheirReasonAndKeepServing() throws Exception {
        try (TestNet net = TestNet.pairWithIpv6(); EchoBackend backend = EchoBackend.start(net, "::1");
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run",
                     "--listen", "[" + TestNet.SERVER_IP6 + "]:8080",
                     "--backend", "[::1]:" + EchoBackend.PORT, "--stats-interval", "500ms",
                     // The Java front end's parser: the repair handoff's (see HostileInputIT).
                     "--handoff", "repair")) {
            proxy.awaitStarted();
            String serverMac = net.mac(net.serverNs(), net.serverDev());
            int ifindex = Integer.parseInt(net.exec(net.clientNs(), "cat",
                    "/sys/class/net/" + net.clientDev() + "/ifindex").trim());
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            Map<String, Integer> sent = net.inClientNow(() -> sendHostileFrames(ifindex, serverMac));
            Thread.sleep(1500);
            Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
            long rejected = after.get("rejected") - before.get("rejected");
            long invalid = after.get("ack_invalid") - before.get("ack_invalid");
            long syns = after.get("syn") - before.get("syn");
            long synAcks = after.get("synack") - before.get("synack");
            int malformed = sent.entrySet().stream().filter(e -> !e.getKey().startsWith("ok_"))
                    .mapToInt(Map.Entry::getValue).sum();
            System.out.printf("Ipv6HostileInputIT: sent %s; proxy counted rejected=%d ack_invalid=%d syn=%d synack=%d%n",
                    sent, rejected, invalid, syns, synAcks);
            assertEquals(malformed, rejected, "every malformed IPv6 packet is counted as rejected");
            assertEquals((long) sent.get("ok_forged_ack"), invalid, "every forged ACK is counted as invalid");
            assertEquals((long) sent.get("ok_hop_by_hop_syn"), syns, "a SYN behind a hop-by-hop header is a SYN");
            assertEquals(syns, synAcks, "and it is answered");
            assertEquals(0, after.get("handoffs") - before.get("handoffs"), "no socket for a forged ACK");
            assertTrue(proxy.process().isAlive(), "the proxy lives on");
            long micros = net.inClientNow(() -> Clients.echoOnce(Clients.PROXY6, 1, 5000)) / 1000;
            assertTrue(micros < 1_000_000, "a real client is still served on its first SYN: " + micros + " us");
            assertEquals(1, backend.accepted(), "only the real client reached the backend");
        }
    }

    /** Sends each kind {@link #EACH} times; returns how many of each. Runs inside the client namespace. */
    private static Map<String, Integer> sendHostileFrames(int ifindex, String serverMac) throws Exception {
        Map<String, Integer> counts = new LinkedHashMap<>();
        Random random = new Random(7);
        int fd = Native.socket(Constants.AF_PACKET, Constants.SOCK_DGRAM, 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment to = arena.allocate(20, 4);
            to.set(ValueLayout.JAVA_SHORT, 0, (short) Constants.AF_PACKET);
            to.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), 2, (short) Constants.ETH_P_IPV6);
            to.set(ValueLayout.JAVA_INT, 4, ifindex);
            to.set(ValueLayout.JAVA_BYTE, 11, (byte) 6);
            byte[] mac = HexFormat.ofDelimiter(":").parseHex(serverMac);
            MemorySegment.copy(MemorySegment.ofArray(mac), 0, to, 12, 6);
            MemorySegment buf = arena.allocate(256, 8);
            TcpPacket packet = TcpPacket.between(TestNet.CLIENT_IP6, TestNet.SERVER_IP6);
            for (int i = 0; i < EACH; i++) {
                int sport = 20000 + i;
                // A SYN that is fine but for its extension header chain, in front of the TCP header.
                int len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64800).mss(1440).wscale(7).sackPermitted(true).timestamps(1, 0).writeTo(buf, 0);
                send(fd, buf, withExtension(buf, len, 44, 0, 1), to, counts, "ip_fragment");
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64800).mss(1440).wscale(7).sackPermitted(true).timestamps(1, 0).writeTo(buf, 0);
                send(fd, buf, withExtension(buf, len, 43, 3, 1), to, counts, "bad_ipv6_extension"); // segments left 1
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64800).mss(1440).wscale(7).sackPermitted(true).timestamps(1, 0).writeTo(buf, 0);
                send(fd, buf, withExtension(buf, len, 0, 0, 0), to, counts, "ok_hop_by_hop_syn");
                // Hop-by-hop, then ESP: the filter lets it through (our address), the parser says not TCP.
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64800).mss(1440).wscale(7).sackPermitted(true).timestamps(1, 0).writeTo(buf, 0);
                len = withExtension(buf, len, 0, 0, 0);
                buf.set(ValueLayout.JAVA_BYTE, 40, (byte) 50);
                send(fd, buf, len, to, counts, "not_tcp");
                // Hop-by-hop in front of TCP to a port that is not ours.
                len = packet.ports(sport, 8081).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64800).mss(1440).wscale(7).sackPermitted(true).timestamps(1, 0).writeTo(buf, 0);
                send(fd, buf, withExtension(buf, len, 0, 0, 0), to, counts, "not_our_port");
                // Payload length one byte beyond the frame.
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64800).mss(1440).wscale(7).sackPermitted(true).timestamps(1, 0).writeTo(buf, 0);
                buf.set(ValueLayout.JAVA_BYTE, 5, (byte) (len - 40 + 1));
                send(fd, buf, len, to, counts, "bad_ipv6_length");
                // Data offset 15 in a 20-byte header.
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64800).mss(-1).wscale(-1).sackPermitted(false).noTimestamps().writeTo(buf, 0);
                buf.set(ValueLayout.JAVA_BYTE, 40 + 12, (byte) 0xF0);
                send(fd, buf, len, to, counts, "bad_data_offset");
                // MSS option with length 0.
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64800).mss(1440).wscale(-1).sackPermitted(false).noTimestamps().writeTo(buf, 0);
                buf.set(ValueLayout.JAVA_BYTE, 40 + 21, (byte) 0);
                send(fd, buf, len, to, counts, "bad_tcp_option");
                // Twelve bytes of TCP.
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64800).mss(-1).wscale(-1).sackPermitted(false).noTimestamps().writeTo(buf, 0);
                buf.set(ValueLayout.JAVA_BYTE, 5, (byte) 12);
                send(fd, buf, 52, to, counts, "truncated_tcp");
                // Well-formed ACKs whose acknowledgment number is no cookie of ours.
                len = packet.ports(30000 + i, 8080).seq(random.nextInt()).ack(random.nextInt()).flags(TcpPacket.ACK)
                        .window(502).mss(-1).wscale(-1).sackPermitted(false).noTimestamps().writeTo(buf, 0);
                send(fd, buf, len, to, counts, "ok_forged_ack");
            }
        } finally {
            Native.close(fd);
        }
        return counts;
    }

    /**
     * Inserts an 8-byte extension header of {@code type} after the fixed header of the packet in {@code buf}, with
     * {@code value} at byte {@code at} of it; the TCP checksum stays valid (the pseudo-header does not cover it).
     */
    private static int withExtension(MemorySegment buf, int len, int type, int at, int value) {
        MemorySegment.copy(buf, 40, buf, 48, len - 40);
        for (int i = 0; i < 8; i++) {
            buf.set(ValueLayout.JAVA_BYTE, 40 + i, (byte) 0);
        }
        buf.set(ValueLayout.JAVA_BYTE, 40, buf.get(ValueLayout.JAVA_BYTE, 6));
        if (type != 44) {
            buf.set(ValueLayout.JAVA_BYTE, 42, (byte) 1); // PadN option of 4 bytes (options headers)
            buf.set(ValueLayout.JAVA_BYTE, 43, (byte) 4);
        }
        if (at != 0) {
            buf.set(ValueLayout.JAVA_BYTE, 40 + at, (byte) value);
        } else if (type == 44) {
            buf.set(ValueLayout.JAVA_BYTE, 43, (byte) value); // more-fragments
        }
        buf.set(ValueLayout.JAVA_BYTE, 6, (byte) type);
        buf.set(ValueLayout.JAVA_BYTE, 5, (byte) (len - 40 + 8));
        return len + 8;
    }

    private static void send(int fd, MemorySegment buf, int len, MemorySegment to, Map<String, Integer> counts,
                             String kind) {
        long rc = Native.sendto(fd, buf, len, 0, to);
        if (rc != len) {
            throw new IllegalStateException("raw send failed: " + Native.strerror((int) -rc));
        }
        counts.merge(kind, 1, Integer::sum);
    }
}
