package io.synproxy.cli.it;

import io.synproxy.linux.Constants;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;
import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TcpPacket;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Malformed packets and ACKs with wrong cookies, sent raw to the protected port: counted, never fatal. */
@RequiresRoot(tools = {"nft"})
class HostileInputIT {
    private static final int EACH = 100;

    @Test
    void shouldCountMalformedPacketsAndForgedAcksAndKeepServing() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "500ms",
                     // The Java front end's parser, which sees these only with the repair handoff: the kernel's
                     // leaves them to the BPF program and the kernel, which count none of them here.
                     "--handoff", "repair")) {
            proxy.awaitStarted();
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            int[] sent = net.inClientNow(HostileInputIT::sendHostilePackets);
            Thread.sleep(1500);
            Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
            long rejected = after.get("rejected") - before.get("rejected");
            long invalid = after.get("ack_invalid") - before.get("ack_invalid");
            System.out.printf("HostileInputIT: sent %d malformed and %d forged ACKs; proxy counted rejected=%d ack_invalid=%d%n",
                    sent[0], sent[1], rejected, invalid);
            assertEquals(sent[0], rejected, "every malformed packet is counted as rejected");
            assertEquals(sent[1], invalid, "every forged ACK is counted as invalid");
            assertEquals(0, after.get("handoffs") - before.get("handoffs"), "no socket for a forged ACK");
            assertTrue(proxy.process().isAlive(), "the proxy lives on");
            long micros = net.inClientNow(() -> Clients.echoOnce(1, 5000)) / 1000;
            // Under the 1 s SYN retransmission timeout: the first SYN was answered, nothing had to be resent.
            assertTrue(micros < 1_000_000, "a real client is still served on its first SYN: " + micros + " us");
            assertEquals(1, backend.accepted(), "only the real client reached the backend");
        }
    }

    /** Returns {malformed sent, forged ACKs sent}. Runs on a thread inside the client namespace. */
    private static int[] sendHostilePackets() throws Exception {
        int dst = ByteBuffer.wrap(InetAddress.getByName(TestNet.SERVER_IP).getAddress()).getInt();
        int fd = Native.socket(Constants.AF_INET, Constants.SOCK_RAW, Constants.IPPROTO_RAW);
        Random random = new Random(7);
        int malformed = 0;
        int forged = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(128, 8);
            MemorySegment to = SockAddr.in(SockAddr.allocateIn(arena), dst, 0);
            TcpPacket packet = TcpPacket.between(TestNet.CLIENT_IP, TestNet.SERVER_IP);
            for (int i = 0; i < EACH; i++) {
                int sport = 20000 + i;
                // Truncated TCP header: 12 of its 20 bytes (the kernel fixes the IP total length).
                int len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64240).mss(1460).wscale(7).sackPermitted(true).noTimestamps().writeTo(buf, 0);
                malformed += send(fd, buf, 32, to);
                // Data offset 15 (60 bytes) in a 20-byte header.
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64240).mss(-1).wscale(-1).sackPermitted(false).noTimestamps().writeTo(buf, 0);
                buf.set(ValueLayout.JAVA_BYTE, 32, (byte) 0xF0);
                malformed += send(fd, buf, len, to);
                // MSS option with length 0.
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64240).mss(1460).wscale(-1).sackPermitted(false).noTimestamps().writeTo(buf, 0);
                buf.set(ValueLayout.JAVA_BYTE, 41, (byte) 0);
                malformed += send(fd, buf, len, to);
                // Window-scale option running past the end of the header.
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64240).mss(1460).wscale(7).sackPermitted(false).noTimestamps().writeTo(buf, 0);
                buf.set(ValueLayout.JAVA_BYTE, len - 2, (byte) 40);
                malformed += send(fd, buf, len, to);
                // First fragment (more-fragments flag set).
                len = packet.ports(sport, 8080).seq(random.nextInt()).ack(0).flags(TcpPacket.SYN)
                        .window(64240).mss(1460).wscale(7).sackPermitted(true).noTimestamps().writeTo(buf, 0);
                buf.set(ValueLayout.JAVA_BYTE, 6, (byte) 0x20);
                malformed += send(fd, buf, len, to);
                // Well-formed ACKs whose acknowledgment number is no cookie of ours.
                for (int k = 0; k < 10; k++) {
                    len = packet.ports(30000 + i * 10 + k, 8080).seq(random.nextInt()).ack(random.nextInt())
                            .flags(TcpPacket.ACK).window(502).mss(-1).wscale(-1).sackPermitted(false).noTimestamps().writeTo(buf, 0);
                    forged += send(fd, buf, len, to);
                }
            }
        } finally {
            Native.close(fd);
        }
        return new int[] {malformed, forged};
    }

    private static int send(int fd, MemorySegment buf, int len, MemorySegment to) {
        long rc = Native.sendto(fd, buf, len, 0, to);
        if (rc != len) {
            throw new IllegalStateException("raw send failed: " + Native.strerror((int) -rc));
        }
        return 1;
    }
}
