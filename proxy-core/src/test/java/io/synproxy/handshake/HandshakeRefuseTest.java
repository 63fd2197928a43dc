package io.synproxy.handshake;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import static io.synproxy.packet.TcpSegment.mapped;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
        int len = w.from(0, mapped(CLIENT), 40000).to(0, mapped(LOCAL), 8080)
                .seq(clientIsn).ack(0).flags(TcpFlyweight.SYN).window(64240)
                .mss(1460).wscale(7).sackPermitted(true).write(buf, 0);
        assertEquals(Reject.NONE, p.parse4(buf, 0, len, true));
        len = hs.synAck(p, buf, 0, 0);
        assertEquals(Reject.NONE, p.parse4(buf, 0, len, true));
        int isn = p.seq();
        len = w.from(0, mapped(CLIENT), 40000).to(0, mapped(LOCAL), 8080)
                .seq(clientIsn + 1).ack(isn + 1).flags(TcpFlyweight.ACK).window(502).write(buf, 0);
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

    @Test
    void shouldAnswerAnUnacceptableIpv4AckWithARstWhoseSequenceIsTheAckNumber() {
        MemorySegment buf = MemorySegment.ofArray(new byte[128]);
        TcpSegment p = new TcpSegment();
        int len = new TcpSegmentWriter().from(0, mapped(CLIENT), 40000).to(0, mapped(LOCAL), 8080)
                .seq(0x11111111).ack(0x22222222).flags(TcpFlyweight.ACK).window(502).timestamps(7, 9).write(buf, 0);
        assertEquals(Reject.NONE, p.parse4(buf, 0, len, true));

        MemorySegment out = MemorySegment.ofArray(new byte[128]);
        len = handshake().unacceptableAckReset(p, out, 0);
        TcpSegment rst = new TcpSegment();
        assertEquals(Reject.NONE, rst.parse4(out, 0, len, true), "both checksums");
        assertEquals(TcpFlyweight.RST, rst.flags(), "RST alone: no ACK bit");
        assertEquals(0x22222222, rst.seq());
        assertEquals(LOCAL, rst.src());
        assertEquals(CLIENT, rst.dst());
        assertEquals(8080, rst.srcPort());
        assertEquals(40000, rst.dstPort());
        assertEquals(0, rst.payloadLength());
        assertFalse(rst.options().hasTimestamps(), "no option of the ACK is echoed");
    }

    @Test
    void shouldAnswerAnUnacceptableIpv6AckTheSameWay() {
        MemorySegment buf = MemorySegment.ofArray(new byte[160]);
        TcpSegment p = new TcpSegment();
        int len = new TcpSegmentWriter().from(0x20010db8_00000000L, 2, 40000).to(0x20010db8_00000000L, 1, 443)
                .seq(5).ack(0xdeadbeef).flags(TcpFlyweight.ACK).window(502).write(buf, 0);
        assertEquals(Reject.NONE, p.parse(buf, 0, len, true));

        MemorySegment out = MemorySegment.ofArray(new byte[160]);
        len = handshake().unacceptableAckReset(p, out, 0);
        TcpSegment rst = new TcpSegment();
        assertEquals(Reject.NONE, rst.parse(out, 0, len, true));
        assertTrue(rst.ipv6());
        assertEquals(TcpFlyweight.RST, rst.flags());
        assertEquals(0xdeadbeef, rst.seq());
        assertEquals(1, rst.srcLo());
        assertEquals(2, rst.dstLo());
        assertEquals(443, rst.srcPort());
        assertEquals(40000, rst.dstPort());
    }

    private static Handshake handshake() {
        return new Handshake(new SynCookie(new KeyRing(
                "refuse test secret, 32 bytes!!!!".getBytes(StandardCharsets.US_ASCII), 60_000, () -> 5_000_000L)),
                1460, 7, true);
    }
}
