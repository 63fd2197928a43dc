package io.synproxy.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.packet.Ipv4TcpParser;
import io.synproxy.packet.Ipv4TcpWriter;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The RST that refuses a proven client (connection limit, drain) is what the client's stack accepts. */
class HandshakeRefuseTest {
    private static final int CLIENT = 0x0ac80002;
    private static final int LOCAL = 0x0ac80001;

    @Test
    void shouldWriteAnInSequenceRstForTheVerifiedFinalAck() {
        Handshake hs = new Handshake(new SynCookie(new KeyRing(
                "refuse test secret, 32 bytes!!!!".getBytes(StandardCharsets.US_ASCII), 60_000, () -> 5_000_000L)),
                1460, 7, true);
        MemorySegment buf = MemorySegment.ofArray(new byte[128]);
        Ipv4TcpWriter w = new Ipv4TcpWriter();
        Ipv4TcpParser p = new Ipv4TcpParser();
        int clientIsn = 0xfedcba98;
        int len = w.write(buf, 0, CLIENT, LOCAL, 40000, 8080, clientIsn, 0, TcpFlyweight.SYN, 64240, 1460, 7, true,
                false, 0, 0);
        assertEquals(Reject.NONE, p.parse(buf, 0, len, true));
        len = hs.synAck(p, buf, 0, 0);
        assertEquals(Reject.NONE, p.parse(buf, 0, len, true));
        int isn = p.seq();
        len = w.write(buf, 0, CLIENT, LOCAL, 40000, 8080, clientIsn + 1, isn + 1, TcpFlyweight.ACK, 502, -1, -1, false,
                false, 0, 0);
        assertEquals(Reject.NONE, p.parse(buf, 0, len, true));
        AckVerdict v = new AckVerdict();
        assertTrue(hs.verifyAck(p, v));

        len = hs.reset(v, buf, 0);
        assertEquals(Reject.NONE, p.parse(buf, 0, len, true), "both checksums");
        assertEquals(TcpFlyweight.RST | TcpFlyweight.ACK, p.flags());
        assertEquals(LOCAL, p.src());
        assertEquals(CLIENT, p.dst());
        assertEquals(8080, p.srcPort());
        assertEquals(40000, p.dstPort());
        assertEquals(isn + 1, p.seq(), "exactly the client's rcv_nxt");
        assertEquals(clientIsn + 1, p.ack());
        assertEquals(0, p.payloadLength());
    }
}
