package io.synproxy.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.synproxy.packet.Ipv4TcpParser;
import io.synproxy.packet.Ipv4TcpWriter;
import io.synproxy.packet.Ipv6TcpParser;
import io.synproxy.packet.Ipv6TcpWriter;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;

import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/** RFC 9293 3.10.7.2: an unacceptable ACK to a listener gets {@code <SEQ=SEG.ACK><CTL=RST>}. */
class UnacceptableAckResetTest {
    private static final int CLIENT = 0x0ac80002;
    private static final int LOCAL = 0x0ac80001;

    @Test
    void shouldAnswerAnIpv4AckWithARstWhoseSequenceIsTheAckNumber() {
        MemorySegment buf = MemorySegment.ofArray(new byte[128]);
        Ipv4TcpParser p = new Ipv4TcpParser();
        int len = new Ipv4TcpWriter().write(buf, 0, CLIENT, LOCAL, 40000, 8080, 0x11111111, 0x22222222,
                TcpFlyweight.ACK, 502, -1, -1, false, true, 7, 9);
        assertEquals(Reject.NONE, p.parse(buf, 0, len, true));

        MemorySegment out = MemorySegment.ofArray(new byte[128]);
        len = new UnacceptableAckReset().write(p, out, 0);
        Ipv4TcpParser rst = new Ipv4TcpParser();
        assertEquals(Reject.NONE, rst.parse(out, 0, len, true), "both checksums");
        assertEquals(TcpFlyweight.RST, rst.flags(), "RST alone: no ACK bit");
        assertEquals(0x22222222, rst.seq());
        assertEquals(LOCAL, rst.src());
        assertEquals(CLIENT, rst.dst());
        assertEquals(8080, rst.srcPort());
        assertEquals(40000, rst.dstPort());
        assertEquals(0, rst.payloadLength());
    }

    @Test
    void shouldAnswerAnIpv6AckTheSameWay() {
        MemorySegment buf = MemorySegment.ofArray(new byte[160]);
        Ipv6TcpParser p = new Ipv6TcpParser();
        int len = new Ipv6TcpWriter().write(buf, 0, 0x20010db8_00000000L, 2, 0x20010db8_00000000L, 1, 40000, 443,
                5, 0xdeadbeef, TcpFlyweight.ACK, 502, -1, -1, false, false, 0, 0);
        assertEquals(Reject.NONE, p.parse(buf, 0, len, true));

        MemorySegment out = MemorySegment.ofArray(new byte[160]);
        len = new UnacceptableAckReset().write(p, out, 0);
        Ipv6TcpParser rst = new Ipv6TcpParser();
        assertEquals(Reject.NONE, rst.parse(out, 0, len, true));
        assertEquals(TcpFlyweight.RST, rst.flags());
        assertEquals(0xdeadbeef, rst.seq());
        assertEquals(1, rst.srcLo());
        assertEquals(2, rst.dstLo());
        assertEquals(443, rst.srcPort());
        assertEquals(40000, rst.dstPort());
    }
}
