package io.synproxy.handshake;

import io.synproxy.cookie.CookieTables;
import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpOptions;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The handshake over IPv6: SYN to cookie SYN/ACK (IPv6 MSS table), final ACK to verdict, window update. */
class Ipv6HandshakeTest {
    // Client 2001:db8::10 port 51234 -> us 2001:db8::1 port 443; high bits set where they can be.
    private static final long C_HI = 0x2001_0db8_8000_0000L;
    private static final long C_LO = 0x8000_0000_0000_0010L;
    private static final long L_HI = 0x2001_0db8_0000_0000L;
    private static final long L_LO = 0x1L;
    private static final int C_PORT = 51234;
    private static final int L_PORT = 443;
    private static final int CLIENT_ISN = 0x9a3f12c7;
    private static final int CLIENT_TSVAL = 0x6b2c1f3a;
    private static final int OUR_MSS = 1460;
    private static final int OUR_MSS6 = 1440;
    private static final int OUR_WSCALE = 9;
    private static final int TS_NOW = 0x0123_4567;
    private static final long PERIOD = 60_000;
    private static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    private static final int WARM_UP = 200_000;
    private static final int MEASURED = 50_000;

    private final long nowMillis = 28_000_000L * PERIOD + 12_345;
    private final SynCookie cookies = new SynCookie(new KeyRing(SECRET, PERIOD, () -> nowMillis));
    private final Handshake handshake = new Handshake(cookies, OUR_MSS, OUR_MSS6, OUR_WSCALE, true);
    private final TcpSegmentWriter writer = new TcpSegmentWriter();

    private MemorySegment packet(long sHi, long sLo, long dHi, long dLo, int sport, int dport, int seq, int ack,
                                 int flags, int mss, int ws, boolean sack, boolean ts, int tsVal, int tsEcr) {
        MemorySegment seg = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        int len = writer.from(sHi, sLo, sport).to(dHi, dLo, dport).seq(seq).ack(ack).flags(flags).window(64800)
                .mss(mss).wscale(ws).sackPermitted(sack).timestamps(ts, tsVal, tsEcr).write(seg, 0);
        return seg.asSlice(0, len);
    }

    private static TcpSegment parse(MemorySegment p) {
        TcpSegment parser = new TcpSegment();
        assertEquals(Reject.NONE, parser.parse6(p, 0, (int) p.byteSize(), true));
        return parser;
    }

    private MemorySegment syn(int mss) {
        return packet(C_HI, C_LO, L_HI, L_LO, C_PORT, L_PORT, CLIENT_ISN, 0, TcpFlyweight.SYN, mss, 7, true, true,
            CLIENT_TSVAL, 0);
    }

    private TcpSegment synAck(int clientMss) {
        MemorySegment out = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        int len = handshake.synAck(parse(syn(clientMss)), out, 0, TS_NOW);
        return parse(out.asSlice(0, len));
    }

    private TcpSegment finalAck(int isn, int seq) {
        return parse(packet(C_HI, C_LO, L_HI, L_LO, C_PORT, L_PORT, seq, isn + 1, TcpFlyweight.ACK, -1, -1, false,
            true, CLIENT_TSVAL + 1, TS_NOW & ~1));
    }

    @Test
    void shouldAnswerAnIpv6SynWithACookieSynAckFromTheAddressItWasSentTo() {
        TcpSegment p = synAck(1440);
        assertEquals(L_HI, p.srcHi());
        assertEquals(L_LO, p.srcLo());
        assertEquals(C_HI, p.dstHi());
        assertEquals(C_LO, p.dstLo());
        assertEquals(L_PORT, p.srcPort());
        assertEquals(C_PORT, p.dstPort());
        assertEquals(TcpFlyweight.SYN | TcpFlyweight.ACK, p.flags());
        assertEquals(CLIENT_ISN + 1, p.ack());
        assertEquals(0, p.window(), "zero window until the handoff");
        TcpOptions o = p.options();
        assertEquals(OUR_MSS6, o.mss(), "the IPv6 MSS (MTU - 60), not the IPv4 one");
        assertEquals(OUR_WSCALE, o.wscale());
        assertTrue(o.sackPermitted());
        assertEquals(CLIENT_TSVAL, o.tsEcr());
        assertEquals(TS_NOW & ~1, o.tsVal());
        int bits = cookies.verifyAck6(C_HI, C_LO, L_HI, L_LO, C_PORT, L_PORT, CLIENT_ISN + 1, p.seq(), false);
        assertTrue(bits >= 0, "the ISN is an IPv6 cookie for the SYN's tuple");
        assertEquals(CookieTables.mssIndex6(1440), SynCookie.mssIndexOf(bits));
        assertEquals(-1, cookies.verify(0, 0, C_PORT, L_PORT, CLIENT_ISN, p.seq()), "not an IPv4 cookie");
    }

    @ParameterizedTest(name = "client MSS {0} -> {1}")
    @CsvSource({"1440, 1440", "1500, 1440", "1432, 1432", "1400, 1380", "1300, 1280", "1220, 1220", "1000, 536",
        "536, 536", "200, 48", "-1, 1220"})
    void shouldRoundTheClientsMssDownToTheIpv6TableAndCapItAtOurs(int clientMss, int expected) {
        TcpSegment s = synAck(clientMss);
        AckVerdict v = new AckVerdict();
        assertTrue(handshake.verifyAck(finalAck(s.seq(), CLIENT_ISN + 1), v));
        assertEquals(expected, v.mss());
    }

    @Test
    void shouldNeverTakeAnIpv6ClientMssAboveTheOneItAnnounced() {
        Handshake big = new Handshake(cookies, 9000, 9000, OUR_WSCALE, true);
        for (int clientMss = 48; clientMss <= 9000; clientMss++) {
            MemorySegment out = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
            int len = big.synAck(parse(syn(clientMss)), out, 0, TS_NOW);
            AckVerdict v = new AckVerdict();
            assertTrue(big.verifyAck(finalAck(parse(out.asSlice(0, len)).seq(), CLIENT_ISN + 1), v));
            assertTrue(v.mss() <= clientMss, "RFC 9293 MUST-16: client MSS " + clientMss + ", verdict " + v.mss());
        }
    }

    @Test
    void shouldWriteTheIpv6TimestampEchoFromTheClientToUs() {
        int isn = synAck(1440).seq();
        AckVerdict v = new AckVerdict();
        assertTrue(handshake.verifyAck(finalAck(isn, CLIENT_ISN + 1), v));
        MemorySegment out = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        int len = handshake.timestampEcho(v, out, 0);
        TcpSegment echo = parse(out.asSlice(0, len));
        assertEquals(C_HI, echo.srcHi());
        assertEquals(C_LO, echo.srcLo());
        assertEquals(L_HI, echo.dstHi());
        assertEquals(L_LO, echo.dstLo());
        assertEquals(C_PORT, echo.srcPort());
        assertEquals(L_PORT, echo.dstPort());
        assertEquals(TcpFlyweight.ACK, echo.flags());
        assertEquals(CLIENT_ISN + 1, echo.seq());
        assertEquals(isn + 1, echo.ack());
        assertEquals(CLIENT_TSVAL + 1, echo.options().tsVal(), "the final ACK's TSval");
        assertEquals(TS_NOW & ~1, echo.options().tsEcr());
    }

    @Test
    void shouldVerifyTheFinalAckIntoAnIpv6Verdict() {
        int isn = synAck(1440).seq();
        AckVerdict v = new AckVerdict();
        assertTrue(handshake.verifyAck(finalAck(isn, CLIENT_ISN + 1), v));
        assertTrue(v.ipv6());
        assertEquals(C_HI, v.clientHi());
        assertEquals(C_LO, v.clientLo());
        assertEquals(L_HI, v.localHi());
        assertEquals(L_LO, v.localLo());
        assertEquals(C_PORT, v.clientPort());
        assertEquals(L_PORT, v.localPort());
        assertEquals(isn, v.isn());
        assertEquals(CLIENT_ISN, v.clientIsn());
        assertEquals(7, v.clientWscale());
        assertEquals(OUR_WSCALE, v.ourWscale());
        assertTrue(v.sack());
        assertTrue(v.timestamps());
        assertEquals(TS_NOW & ~1, v.ourTsVal());
        assertEquals(0, v.payloadLength());
    }

    @Test
    void shouldAcceptTheZeroWindowProbeAndRejectOtherTuplesAndSequenceNumbers() {
        int isn = synAck(1440).seq();
        assertTrue(handshake.verifyAck(finalAck(isn, CLIENT_ISN), new AckVerdict()), "zero-window probe");
        assertFalse(handshake.verifyAck(finalAck(isn, CLIENT_ISN + 2), new AckVerdict()));
        assertFalse(handshake.verifyAck(finalAck(isn + 1, CLIENT_ISN + 1), new AckVerdict()));
        for (long[] other : new long[][] {{C_HI ^ 1, C_LO, L_HI, L_LO}, {C_HI, C_LO ^ (1L << 63), L_HI, L_LO},
            {C_HI, C_LO, L_HI ^ (1L << 40), L_LO}, {C_HI, C_LO, L_HI, L_LO + 1}}) {
            TcpSegment ack = parse(packet(other[0], other[1], other[2], other[3], C_PORT, L_PORT, CLIENT_ISN + 1,
                isn + 1, TcpFlyweight.ACK, -1, -1, false, false, 0, 0));
            assertFalse(handshake.verifyAck(ack, new AckVerdict()), "another address pair");
        }
        TcpSegment otherPort = parse(packet(C_HI, C_LO, L_HI, L_LO, C_PORT + 1, L_PORT, CLIENT_ISN + 1, isn + 1,
            TcpFlyweight.ACK, -1, -1, false, false, 0, 0));
        assertFalse(handshake.verifyAck(otherPort, new AckVerdict()));
    }

    @Test
    void shouldWriteTheIpv6WindowUpdateInSequence() {
        int isn = synAck(1440).seq();
        AckVerdict v = new AckVerdict();
        assertTrue(handshake.verifyAck(finalAck(isn, CLIENT_ISN + 1), v));
        MemorySegment out = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        int len = handshake.windowUpdate(v, 65536 << 3, out, 0);
        TcpSegment w = parse(out.asSlice(0, len));
        assertEquals(L_LO, w.srcLo());
        assertEquals(C_LO, w.dstLo());
        assertEquals(TcpFlyweight.ACK, w.flags());
        assertEquals(isn + 1, w.seq());
        assertEquals(CLIENT_ISN + 1, w.ack());
        assertEquals((65536 << 3) >>> OUR_WSCALE, w.window());
        assertTrue(w.options().hasTimestamps());
        assertEquals(CLIENT_TSVAL + 1, w.options().tsEcr());
    }

    @Test
    void shouldMapIpv4VerdictsIntoTheSharedTupleSpace() {
        assertEquals(0x0000_FFFF_0A00_0001L, AckVerdict.mapped(0x0A00_0001));
        assertEquals(0x0000_FFFF_FFFF_FFFFL, AckVerdict.mapped(-1));
    }

    @Test
    void shouldNotAllocateOnTheIpv6SynPathOrTheInvalidAckPath() {
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        Assumptions.assumeTrue(bean instanceof com.sun.management.ThreadMXBean);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) bean;
        Assumptions.assumeTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled());
        MemorySegment synPacket = syn(1440);
        TcpSegment parser = new TcpSegment();
        int isn = synAck(1440).seq();
        MemorySegment badAck = packet(C_HI, C_LO, L_HI, L_LO, C_PORT, L_PORT, CLIENT_ISN + 1, isn + 2,
            TcpFlyweight.ACK, -1, -1, false, true, 1, 2);
        AckVerdict verdict = new AckVerdict();
        MemorySegment out = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        long sink = run(WARM_UP, parser, synPacket, badAck, verdict, out);
        long best = Long.MAX_VALUE;
        for (int round = 0; round < 5; round++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            sink += run(MEASURED, parser, synPacket, badAck, verdict, out);
            best = Math.min(best, threads.getCurrentThreadAllocatedBytes() - before);
        }
        assertEquals(0, best, "bytes allocated per " + MEASURED + " IPv6 SYNs + invalid ACKs (sink " + sink + ")");
    }

    private long run(int n, TcpSegment parser, MemorySegment syn, MemorySegment badAck, AckVerdict verdict,
                     MemorySegment out) {
        long sink = 0;
        for (int i = 0; i < n; i++) {
            parser.parse6(syn, 0, (int) syn.byteSize(), true);
            sink += handshake.synAck(parser, out, 0, i << 1);
            parser.parse6(badAck, 0, (int) badAck.byteSize(), true);
            sink += handshake.verifyAck(parser, verdict) ? 1 : 0;
        }
        return sink;
    }

}
