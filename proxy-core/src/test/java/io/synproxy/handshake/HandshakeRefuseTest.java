package io.synproxy.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;

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
        TcpSegmentWriter w = new TcpSegmentWriter();
        TcpSegment p = new TcpSegment();
        int clientIsn = 0xfedcba98;
        int len = w.from(CLIENT, 40000).to(LOCAL, 8080).seq(clientIsn).ack(0).flags(TcpFlyweight.SYN).window(64240)
                .mss(1460).wscale(7).sackPermitted(true).write(buf, 0);
        assertEquals(Reject.NONE, p.parse4(buf, 0, len, true));
        len = hs.synAck(p, buf, 0, 0);
        assertEquals(Reject.NONE, p.parse4(buf, 0, len, true));
        int isn = p.seq();
        len = w.from(CLIENT, 40000).to(LOCAL, 8080).seq(clientIsn + 1).ack(isn + 1).flags(TcpFlyweight.ACK)
                .window(502).write(buf, 0);
        assertEquals(Reject.NONE, p.parse4(buf, 0, len, true));
        AckVerdict v = new AckVerdict();
        assertTrue(hs.verifyAck(p, v));

        len = hs.reset(v, buf, 0);
        assertEquals(Reject.NONE, p.parse4(buf, 0, len, true), "both checksums");
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
