package io.synproxy.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.synproxy.cookie.CookieTables;
import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.frontend.Admission;
import io.synproxy.frontend.GateSettings;
import io.synproxy.frontend.PacketRing;
import io.synproxy.frontend.Replies;
import io.synproxy.frontend.SegmentGate;
import io.synproxy.handoff.Handoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.MartianSource;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpOptions;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

import static io.synproxy.packet.TcpSegment.mapped;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing of the handshake decisions (Jazzer), through the front end's own
 * {@link SegmentGate}: any SYN the parser accepts gets a
 * well-formed SYN/ACK whose cookie the matching final ACK (and its zero-window probe) verifies
 * with options that never exceed what the client offered; any other segment offered as a final
 * ACK either fails or yields a verdict consistent with the cookie it carries. Nothing throws.
 *
 * <p>Stored inputs under {@code src/test/resources/io/synproxy/fuzz/HandshakeFuzzTestInputs/} run
 * as regression tests in every build.
 */
class HandshakeFuzzTest {
    private static final byte[] SECRET = "fuzzing secret, 32 bytes long!!!".getBytes(StandardCharsets.US_ASCII);
    private static final int OUR_MSS = 1460;
    private static final int OUR_WSCALE = 7;

    private final long now = 1_700_000_000_000L;
    private final SynCookie cookies = new SynCookie(new KeyRing(SECRET, 60_000, () -> now));
    private final Handshake zeroWindow = new Handshake(cookies, OUR_MSS, OUR_WSCALE, true);
    private final Handshake openWindow = new Handshake(cookies, OUR_MSS, OUR_WSCALE, false);
    private final TcpSegment in = new TcpSegment();
    private final TcpSegment out = new TcpSegment();
    private final TcpSegmentWriter writer = new TcpSegmentWriter();
    private final MemorySegment buf = MemorySegment.ofArray(new byte[128]);

    /** A segment with fuzzed header fields and a fuzzed option block, as the proxy would receive it. */
    private static byte[] segment(FuzzedDataProvider d, int flags) {
        byte[] options = d.consumeBytes(40);
        int optLen = (options.length + 3) & ~3;
        byte[] payload = d.consumeBytes(64);
        int total = 40 + optLen + payload.length;
        byte[] p = new byte[total];
        p[0] = 0x45;
        p[2] = (byte) (total >>> 8);
        p[3] = (byte) total;
        p[6] = 0x40;
        p[8] = 64;
        p[9] = 6;
        putInt(p, 12, d.consumeInt());
        putInt(p, 16, d.consumeInt());
        int sum = 0;
        for (int i = 0; i < 20; i += 2) {
            sum += (p[i] & 0xff) << 8 | (p[i + 1] & 0xff);
        }
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        p[10] = (byte) (~sum >>> 8);
        p[11] = (byte) ~sum;
        putShort(p, 20, d.consumeInt(0, 0xffff));
        putShort(p, 22, d.consumeInt(0, 0xffff));
        putInt(p, 24, d.consumeInt());
        putInt(p, 28, d.consumeInt());
        p[32] = (byte) ((5 + optLen / 4) << 4);
        p[33] = (byte) (flags < 0 ? d.consumeInt(0, 0xff) : flags);
        putShort(p, 34, d.consumeInt(0, 0xffff));
        System.arraycopy(options, 0, p, 40, options.length);
        System.arraycopy(payload, 0, p, 40 + optLen, payload.length);
        return p;
    }

    private static void putInt(byte[] p, int i, int v) {
        putShort(p, i, v >>> 16);
        putShort(p, i + 2, v);
    }

    private static void putShort(byte[] p, int i, int v) {
        p[i] = (byte) (v >>> 8);
        p[i + 1] = (byte) v;
    }

    @FuzzTest(maxDuration = "5m")
    void synAckThenFinalAck(FuzzedDataProvider d) {
        boolean zero = d.consumeBoolean();
        Handshake handshake = zero ? zeroWindow : openWindow;
        int tsNow = d.consumeInt();
        int clientWindow = d.consumeInt(0, 0xffff);
        int clientTsVal = d.consumeInt();
        byte[] syn = segment(d, TcpFlyweight.SYN);
        if (in.parse4(MemorySegment.ofArray(syn), 0, syn.length, false) != Reject.NONE || !Handshake.isSyn(in.flags())) {
            return;
        }
        TcpOptions o = in.options();
        int clientMss = o.mss();
        int clientWscale = o.wscale();
        boolean clientSack = o.sackPermitted();
        boolean clientTs = o.hasTimestamps();
        int clientTsValSyn = o.tsVal();
        int client = in.src();
        int local = in.dst();
        int clientPort = in.srcPort();
        int localPort = in.dstPort();
        int clientIsn = in.seq();

        // The fuzzed segments carry no valid TCP checksum: offered to the gate as the kernel had verified them.
        BufferReplies replies = new BufferReplies();
        Handed handed = new Handed();
        assertEquals(Reject.NONE, gate(handshake, replies, handed).onPacket(MemorySegment.ofArray(syn), 0, syn.length,
                PacketRing.TP_STATUS_CSUM_VALID, tsNow & 0xFFFF_FFFFL));
        if (MartianSource.ipv4(client, local)) {
            assertEquals(0, replies.length, "a martian source is never answered");
            return;
        }
        assertEquals(Reject.NONE, out.parse4(buf, 0, replies.length, true), "our SYN/ACK parses with both checksums");
        assertEquals(TcpFlyweight.SYN | TcpFlyweight.ACK, out.flags());
        assertEquals(local, out.src());
        assertEquals(client, out.dst());
        assertEquals(localPort, out.srcPort());
        assertEquals(clientPort, out.dstPort());
        assertEquals(clientIsn + 1, out.ack());
        assertEquals(zero ? 0 : 65535, out.window());
        assertEquals(0, out.payloadLength());
        TcpOptions so = out.options();
        assertEquals(OUR_MSS, so.mss());
        assertEquals(clientTs, so.hasTimestamps(), "timestamps only when offered");
        assertEquals(clientSack, so.sackPermitted(), "SACK only when offered");
        if (so.wscale() >= 0) {
            assertTrue(clientWscale >= 0, "window scaling only when offered");
        }
        if (clientTs) {
            assertEquals(clientTsValSyn, so.tsEcr(), "TSval echoed");
            assertEquals(0, so.tsVal() & 1, "even TSval");
        }
        int isn = out.seq();
        int ourTsVal = so.tsVal();
        // Read before the loop: parsing the window update below reuses the parser and its options.
        boolean weScale = so.wscale() >= 0;

        // The final ACK the client sends, then its zero-window probe (seq one lower).
        for (int probe = 0; probe < 2; probe++) {
            int seq = clientIsn + 1 - probe;
            int alen = writer.from(0, mapped(client), clientPort).to(0, mapped(local), localPort).seq(seq).ack(isn + 1)
                    .flags(TcpFlyweight.ACK).window(clientWindow).timestamps(clientTs, clientTsVal, ourTsVal)
                    .write(buf, 0);
            assertEquals(Reject.NONE, in.parse4(buf, 0, alen, true));
            assertTrue(Handshake.isAck(in.flags()));
            // A gate of its own for each form: after the first handoff the tuple would be live.
            Handed acked = new Handed();
            byte[] ack = buf.asSlice(0, alen).toArray(ValueLayout.JAVA_BYTE);
            gate(handshake, replies, acked).onPacket(MemorySegment.ofArray(ack), 0, alen, 0, 0);
            assertNotNull(acked.verdict, "the cookie verifies" + (probe == 1 ? " (probe)" : ""));
            AckVerdict verdict = acked.verdict;
            assertEquals(client, verdict.clientAddress());
            assertEquals(local, verdict.localAddress());
            assertEquals(clientPort, verdict.clientPort());
            assertEquals(localPort, verdict.localPort());
            assertEquals(isn, verdict.isn());
            assertEquals(clientIsn, verdict.clientIsn());
            assertEquals(0, verdict.payloadLength());
            assertEquals(clientIsn + 1, verdict.clientNextSeq());
            int offered = clientMss < 0 ? 536 : clientMss;
            assertTrue(verdict.mss() <= OUR_MSS, "mss " + verdict.mss());
            assertTrue(verdict.mss() <= Math.max(offered, CookieTables.mss(0)), "mss " + verdict.mss() + " > " + offered);
            assertTrue(verdict.clientWscale() <= Math.min(Math.max(clientWscale, -1), 14), "wscale");
            assertEquals(weScale ? OUR_WSCALE : -1, verdict.ourWscale());
            assertTrue(!verdict.sack() || clientSack, "sack");
            assertEquals(clientTs, verdict.timestamps());
            assertEquals(clientWindow, verdict.clientWindow());
            assertEquals(Reject.NONE, out.parse4(buf, 0, replies.length, true), "the window update parses");
            assertEquals(isn + 1, out.seq());
            assertEquals(clientIsn + 1, out.ack());
        }
    }

    @FuzzTest(maxDuration = "5m")
    void anyAck(FuzzedDataProvider d) {
        byte[] seg = segment(d, -1);
        Handed handed = new Handed();
        Reject r = gate(zeroWindow, new BufferReplies(), handed).onPacket(MemorySegment.ofArray(seg), 0, seg.length,
                PacketRing.TP_STATUS_CSUM_VALID, 0);
        assertEquals(r, in.parse4(MemorySegment.ofArray(seg), 0, seg.length, false), "the gate rejects as the parser");
        if (handed.verdict == null) {
            return;
        }
        assertTrue(Handshake.isAck(in.flags()), "only an ACK is handed off");
        AckVerdict verdict = handed.verdict;
        // Accepted (the fuzzer can learn a MAC from the comparison): the verdict must be what the cookie says.
        int bits = verdict.isn() & SynCookie.OPTION_BITS;
        assertEquals(bits, cookies.verify(verdict.clientAddress(), verdict.localAddress(), verdict.clientPort(),
                verdict.localPort(), verdict.clientIsn(), verdict.isn()), "verdict and cookie agree");
        assertTrue(verdict.clientIsn() == in.seq() - 1 || verdict.clientIsn() == in.seq());
        assertTrue(verdict.payloadLength() >= 0 && verdict.payloadLength() <= in.payloadLength());
    }

    private SegmentGate gate(Handshake handshake, Replies replies, Handed handed) {
        return new SegmentGate(new GateSettings(true, false, new int[0], 16, 0), handshake, handed, replies,
                (fd, v, onClose) -> { }, Admission.ALL, new Counters(), () -> 0L);
    }

    /** Replies written into {@link #buf}; keeps the last one's length. */
    private final class BufferReplies implements Replies {
        int length;

        @Override
        public MemorySegment buffer() {
            return buf;
        }

        @Override
        public boolean send(int length, long hi, long lo) {
            this.length = length;
            return true;
        }
    }

    /** Keeps the verdict of the handoff (the gate's own, read before its next packet). */
    private static final class Handed implements Handoff {
        AckVerdict verdict;

        @Override
        public int handoff(AckVerdict v, MemorySegment packet) {
            verdict = v;
            return 1;
        }

        @Override
        public int lastReceiveWindow() {
            return 1 << 20;
        }
    }
}
