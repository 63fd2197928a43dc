package io.synproxy.frontend;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handoff.Handoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.linux.LinuxException;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.Bits;
import io.synproxy.packet.Ipv4Flyweight;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpChecksum;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;
import io.synproxy.policy.Policy;
import io.synproxy.policy.SourceAccess;
import io.synproxy.policy.SourceLimits;
import io.synproxy.policy.TokenBucket;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static io.synproxy.frontend.Replies.MAX_LOCAL_PACKET;
import static io.synproxy.packet.TcpSegment.mapped;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gate's whole state machine without root, sockets or Netty: real cookies and packets, a handoff that hands out
 * numbers, a sink that keeps the close callbacks, replies that keep what was sent.
 */
class SegmentGateTest {
    private static final int CLIENT = 0x0A00_0002;
    private static final int LOCAL = 0x0A00_0001;
    private static final long V6_PREFIX = 0xfd00_0000_0000_0000L;
    private static final int PORT = 80;
    private static final int WINDOW = 1 << 20;

    private final long[] now = {1_000_000L};
    private final Counters counters = new Counters();
    private final Handshake handshake = new Handshake(new SynCookie(new KeyRing(
            "segment gate test secret bytes!!".getBytes(StandardCharsets.US_ASCII), 60_000, () -> now[0])),
            1460, 1440, 7, true);
    private final SentReplies replies = new SentReplies();
    private final Handed handoff = new Handed();
    private final Adopted sink = new Adopted();
    private final TcpSegmentWriter writer = new TcpSegmentWriter();
    private final TcpSegment reply = new TcpSegment();
    private final MemorySegment packet = MemorySegment.ofArray(new byte[512]);
    private Admission admission = Admission.ALL;

    private SegmentGate gate(int maxConnections) {
        return gate(new GateSettings(true, true, new int[] {PORT}, maxConnections, 0));
    }

    /** A gate whose SYN/ACK opens the window (--no-zero-window), with the same secret as the others. */
    private SegmentGate openWindowGate() {
        Handshake open = new Handshake(new SynCookie(new KeyRing(
                "segment gate test secret bytes!!".getBytes(StandardCharsets.US_ASCII), 60_000, () -> now[0])),
                1460, 1440, 7, false);
        return new SegmentGate(new GateSettings(true, true, new int[] {PORT}, 10, 0), open, handoff, replies, sink,
                s -> admission.refuse(s), counters, () -> now[0]);
    }

    private SegmentGate gate(GateSettings settings) {
        return new SegmentGate(settings, handshake, handoff, replies, sink, s -> admission.refuse(s), counters,
                () -> now[0]);
    }

    @Test
    void shouldAnswerASynWithACookieSynAckToItsSource() {
        SegmentGate gate = gate(10);
        int isn = syn(gate, CLIENT, 40000, 1000);
        assertEquals(1, counters.get(Counter.SYN_RECEIVED));
        assertEquals(1, counters.get(Counter.SYNACK_SENT));
        Sent s = replies.last();
        assertEquals(TcpSegment.mapped(CLIENT), s.lo);
        assertEquals(TcpFlyweight.SYN | TcpFlyweight.ACK, reply.flags());
        assertEquals(1001, reply.ack());
        assertEquals(0, reply.window(), "zero window until the handoff");
        assertTrue(isn != 0);
    }

    @Test
    void shouldHandOffAVerifiedFinalAckAndOpenTheWindow() {
        SegmentGate gate = gate(10);
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        gate.endOfDrain();
        assertEquals(1, counters.get(Counter.ACK_VALID));
        assertEquals(1, counters.get(Counter.HANDOFFS));
        assertEquals(1, handoff.calls);
        assertEquals(1, sink.adopted.size());
        assertEquals(1, gate.liveConnections());
        parse(replies.last());
        assertEquals(TcpFlyweight.ACK, reply.flags(), "the window update");
        assertEquals(isn + 1, reply.seq());
        assertEquals(1001, reply.ack());
        assertEquals(WINDOW >>> 7, reply.window());
    }

    @Test
    void shouldCountAReplayWhileLiveAndKeepTheOneSocket() {
        SegmentGate gate = gate(10);
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        int sent = replies.sent.size();
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        ack(gate, CLIENT, 40000, 1000, isn + 1, 0); // the zero-window probe form
        ack(gate, CLIENT, 40000, 1001, isn + 7, 0); // the kernel's, not a replay of the final ACK
        assertEquals(3, counters.get(Counter.ACK_LIVE));
        assertEquals(2, counters.get(Counter.REPLAY_LIVE));
        assertEquals(1, handoff.calls, "one socket per tuple");
        assertEquals(sent, replies.sent.size(), "the gate answers nothing of a live connection");
    }

    @Test
    void shouldCountALateSegmentOfAClosedConnection() {
        SegmentGate gate = gate(10);
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        sink.adopted.getFirst().run();
        assertEquals(0, gate.liveConnections());
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        segment(gate, CLIENT, 40000, 1001, isn + 1, TcpFlyweight.FIN | TcpFlyweight.ACK, 0);
        assertEquals(2, counters.get(Counter.SEGMENTS_AFTER_CLOSE));
        assertEquals(1, handoff.calls, "the replayed final ACK of a closed connection builds nothing");
    }

    @Test
    void shouldAcceptANewHandshakeOnARecentlyClosedTuple() {
        SegmentGate gate = gate(10);
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        sink.adopted.getFirst().run();
        int isn2 = syn(gate, CLIENT, 40000, 900_000);
        assertTrue(isn2 != isn);
        ack(gate, CLIENT, 40000, 900_001, isn2 + 1, 0);
        assertEquals(2, counters.get(Counter.HANDOFFS));
        assertEquals(0, counters.get(Counter.SEGMENTS_AFTER_CLOSE));
        // The tuple was forgotten as closed: once this connection closes too, its old ACK is late again.
        sink.adopted.get(1).run();
        ack(gate, CLIENT, 40000, 900_001, isn2 + 1, 0);
        assertEquals(1, counters.get(Counter.SEGMENTS_AFTER_CLOSE));
    }

    @Test
    void shouldRememberClosedTuplesAtLeastATimeWait() {
        GateSettings settings = new GateSettings(true, false, new int[0], 10, 1000);
        assertEquals(GateSettings.TIME_WAIT_MILLIS, settings.closedTupleMillis());
        assertEquals(2 * 60_000 + 1000, GateSettings.forKeyRotation(true, false, new int[0], 10, 60_000, Policy.none())
                .closedTupleMillis(), "two key periods: as long as a cookie verifies");
        SegmentGate gate = gate(settings);
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        sink.adopted.getFirst().run();
        now[0] += GateSettings.TIME_WAIT_MILLIS - 1;
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        assertEquals(1, counters.get(Counter.SEGMENTS_AFTER_CLOSE));
        assertEquals(1, handoff.calls);
    }

    @Test
    void shouldRefuseWithAnInSequenceRstWhileDraining() {
        SegmentGate gate = gate(10);
        int isn = syn(gate, CLIENT, 40000, 1000);
        gate.startDraining();
        int sent = replies.sent.size();
        sendSyn(gate, CLIENT, 40001, 5000);
        assertEquals(1, counters.get(Counter.DRAIN_SYN));
        assertEquals(sent, replies.sent.size(), "no SYN/ACK while draining");
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        assertEquals(1, counters.get(Counter.DRAIN_RST));
        assertEquals(0, handoff.calls);
        parse(replies.last());
        assertEquals(TcpFlyweight.RST | TcpFlyweight.ACK, reply.flags());
        assertEquals(isn + 1, reply.seq());
        assertEquals(1001, reply.ack());
    }

    @Test
    void shouldRefuseWithARstAtTheConnectionLimit() {
        SegmentGate gate = gate(1);
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        int isn2 = syn(gate, CLIENT + 1, 40000, 2000);
        ack(gate, CLIENT + 1, 40000, 2001, isn2 + 1, 0);
        assertEquals(1, counters.get(Counter.LIMIT_RST));
        assertEquals(1, handoff.calls);
        Sent s = replies.last();
        assertEquals(TcpSegment.mapped(CLIENT + 1), s.lo);
        parse(s);
        assertEquals(TcpFlyweight.RST | TcpFlyweight.ACK, reply.flags());
        assertEquals(isn2 + 1, reply.seq());
        // A slot frees when a connection closes.
        sink.adopted.getFirst().run();
        int isn3 = syn(gate, CLIENT + 2, 40000, 3000);
        ack(gate, CLIENT + 2, 40000, 3001, isn3 + 1, 0);
        assertEquals(2, handoff.calls);
    }

    @Test
    void shouldVerifyTheTcpChecksumOnlyWhenTheKernelDidNot() {
        assertTrue(SegmentGate.mustVerifyChecksum(0));
        assertFalse(SegmentGate.mustVerifyChecksum(PacketRing.TP_STATUS_CSUMNOTREADY));
        assertFalse(SegmentGate.mustVerifyChecksum(PacketRing.TP_STATUS_CSUM_VALID | 1));
        SegmentGate gate = gate(10);
        int len = writer.from(0, mapped(CLIENT), 40000).to(0, mapped(LOCAL), PORT)
                .seq(1000).flags(TcpFlyweight.SYN).mss(1460).write(packet, 0);
        // Damage the TCP checksum field.
        packet.set(ValueLayout.JAVA_BYTE, 20 + 16, (byte) (packet.get(ValueLayout.JAVA_BYTE, 20 + 16) ^ 0x5a));
        gate.onPacket(packet, 0, len, 0, now[0]);
        assertEquals(1, counters.get(Reject.BAD_TCP_CHECKSUM));
        assertEquals(0, counters.get(Counter.SYN_RECEIVED));
        gate.onPacket(packet, 0, len, PacketRing.TP_STATUS_CSUMNOTREADY, now[0]);
        gate.onPacket(packet, 0, len, PacketRing.TP_STATUS_CSUM_VALID, now[0]);
        assertEquals(2, counters.get(Counter.SYNACK_SENT), "offloaded or verified: answered");
        assertEquals(3, counters.get(Counter.RING_PACKETS));
    }

    @Test
    void shouldCountAnInvalidAckAndOtherSegments() {
        SegmentGate gate = gate(10);
        ack(gate, CLIENT, 40000, 1001, 0x1234_5678, 0);
        segment(gate, CLIENT, 40000, 1001, 0, TcpFlyweight.RST, 0);
        assertEquals(1, counters.get(Counter.ACK_INVALID));
        assertEquals(1, counters.get(Counter.OTHER_SEGMENTS));
        assertEquals(0, replies.sent.size());
    }

    @Test
    void shouldServeIpv6WithOneKeyPerTuple() {
        SegmentGate gate = gate(10);
        int len = writer.from(V6_PREFIX, 2, 40000).to(V6_PREFIX, 1, PORT).seq(1000).flags(TcpFlyweight.SYN)
                .mss(1440).write(packet, 0);
        gate.onPacket(packet, 0, len, 0, now[0]);
        Sent s = replies.last();
        assertEquals(V6_PREFIX, s.hi);
        assertEquals(2, s.lo);
        parse(s);
        assertTrue(reply.ipv6());
        int isn = reply.seq();
        len = writer.from(V6_PREFIX, 2, 40000).to(V6_PREFIX, 1, PORT).seq(1001).ack(isn + 1).flags(TcpFlyweight.ACK)
                .write(packet, 0);
        gate.onPacket(packet, 0, len, 0, now[0]);
        gate.onPacket(packet, 0, len, 0, now[0]);
        assertEquals(1, counters.get(Counter.HANDOFFS));
        assertEquals(1, counters.get(Counter.REPLAY_LIVE));
        assertTrue(handoff.last.ipv6());
        assertEquals(1440, handoff.last.mss());
    }

    @Test
    void shouldRejectAFamilyItDoesNotProtectBeforeParsing() {
        SegmentGate gate = gate(new GateSettings(true, false, new int[0], 10, 0));
        int len = writer.from(V6_PREFIX, 2, 40000).to(V6_PREFIX, 1, PORT).seq(1000).flags(TcpFlyweight.SYN)
                .write(packet, 0);
        gate.onPacket(packet, 0, len, 0, now[0]);
        assertEquals(1, counters.get(Reject.NOT_IPV4));
        SegmentGate gate6 = gate(new GateSettings(false, true, new int[] {PORT}, 10, 0));
        sendSyn(gate6, CLIENT, 40000, 1000);
        assertEquals(1, counters.get(Reject.NOT_IPV6));
        assertEquals(0, counters.get(Counter.SYN_RECEIVED));
        assertEquals(2, counters.get(Counter.PACKETS_REJECTED));
    }

    @Test
    void shouldCountAFailedHandoffAndKeepNoTuple() {
        SegmentGate gate = gate(10);
        handoff.fail = true;
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        gate.endOfDrain();
        assertEquals(1, counters.get(Counter.HANDOFF_FAILED));
        assertEquals(0, counters.get(Counter.HANDOFFS));
        assertEquals(0, gate.liveConnections());
        assertEquals(0, sink.adopted.size());
    }

    @Test
    void shouldDropWhatAdmissionRefusesUnanswered() {
        SegmentGate gate = gate(10);
        admission = s -> s.src() == CLIENT ? Counter.OTHER_SEGMENTS : null;
        sendSyn(gate, CLIENT, 40000, 1000);
        assertEquals(0, replies.sent.size());
        assertEquals(0, counters.get(Counter.SYN_RECEIVED));
        assertEquals(1, counters.get(Counter.OTHER_SEGMENTS));
        sendSyn(gate, CLIENT + 1, 40000, 1000);
        assertEquals(1, counters.get(Counter.SYNACK_SENT));
    }

    @Test
    void shouldNeitherAnswerNorVerifyADeniedSourceButKeepItsLiveConnection() throws Exception {
        SegmentGate gate = gate(10);
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        int pendingIsn = syn(gate, CLIENT, 40001, 5000);
        // A SIGHUP now denies the client's address.
        admission = new AccessAdmission(SourceAccess.load(List.of("10.0.0.2/32"), List.of(), List.of(), List.of()));
        int sent = replies.sent.size();
        sendSyn(gate, CLIENT, 40002, 7000);
        assertEquals(1, counters.get(Counter.SYN_DENIED));
        ack(gate, CLIENT, 40001, 5001, pendingIsn + 1, 0);
        assertEquals(1, counters.get(Counter.ACK_DENIED), "a valid cookie, not even computed");
        assertEquals(1, counters.get(Counter.ACK_VALID));
        assertEquals(0, counters.get(Counter.ACK_INVALID));
        assertEquals(1, handoff.calls);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        assertEquals(1, counters.get(Counter.ACK_LIVE), "the live connection is the kernel's, not denied");
        assertEquals(1, counters.get(Counter.ACK_DENIED));
        assertEquals(sent, replies.sent.size(), "nothing answered");
        sendSyn(gate, CLIENT + 1, 40000, 1000);
        assertEquals(3, counters.get(Counter.SYNACK_SENT), "another source is answered");
    }

    @Test
    void shouldResetAProvenClientBeyondItsPerSourceLimitUntilOneOfItsConnectionsCloses() {
        Policy policy = new Policy(SourceAccess.open(), new SourceLimits(1, 0, 32, 128, 64), new TokenBucket(0, 1, 0));
        SegmentGate gate = gate(new GateSettings(true, true, new int[] {PORT}, 10, 0, policy));
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        assertEquals(1, counters.get(Counter.HANDOFFS));
        isn = syn(gate, CLIENT, 40001, 2000);
        ack(gate, CLIENT, 40001, 2001, isn + 1, 0);
        assertEquals(1, counters.get(Counter.SOURCE_LIMIT_RST));
        assertEquals(1, handoff.calls);
        parse(replies.last());
        assertEquals(TcpFlyweight.RST | TcpFlyweight.ACK, reply.flags());
        assertEquals(isn + 1, reply.seq(), "in sequence for the client");
        isn = syn(gate, CLIENT + 1, 40001, 3000);
        ack(gate, CLIENT + 1, 40001, 3001, isn + 1, 0);
        assertEquals(2, counters.get(Counter.HANDOFFS), "another source has its own count");
        sink.adopted.getFirst().run();
        isn = syn(gate, CLIENT, 40002, 4000);
        ack(gate, CLIENT, 40002, 4001, isn + 1, 0);
        assertEquals(3, counters.get(Counter.HANDOFFS), "the closed connection was given back");
    }

    @Test
    void shouldAnswerInvalidFinalAcksWithRstAtTheBucketsRate() {
        Policy policy = new Policy(SourceAccess.open(), null, new TokenBucket(1, 2, now[0] * 1_000_000L));
        SegmentGate gate = gate(new GateSettings(true, true, new int[] {PORT}, 10, 0, policy));
        for (int k = 0; k < 3; k++) {
            ack(gate, CLIENT, 40000 + k, 1001, 0x5eed0000 + k, 0);
        }
        assertEquals(3, counters.get(Counter.ACK_INVALID));
        assertEquals(2, counters.get(Counter.INVALID_ACK_RST), "the burst");
        assertEquals(1, counters.get(Counter.INVALID_ACK_RST_LIMITED));
        assertEquals(2, replies.sent.size());
        parse(replies.last());
        assertEquals(TcpFlyweight.RST, reply.flags());
        assertEquals(0x5eed0001, reply.seq(), "seq = SEG.ACK");
        assertEquals(40001, reply.dstPort());
        now[0] += 1000;
        ack(gate, CLIENT, 40003, 1001, 0x5eed0003, 0);
        assertEquals(3, counters.get(Counter.INVALID_ACK_RST), "a token a second");
    }

    @Test
    void shouldLeaveAnAckOfAConnectionTheHostHoldsToTheKernel() {
        Policy policy = new Policy(SourceAccess.open(), null, new TokenBucket(1, 2, now[0] * 1_000_000L));
        SegmentGate gate = gate(new GateSettings(true, true, new int[] {PORT}, 10, 0, policy));
        handoff.hostConnections = true;
        ack(gate, CLIENT, 40000, 1001, 0x5eed0000, 0);
        assertEquals(1, counters.get(Counter.ACK_HOST_SOCKET), "another instance's connection, found in the kernel");
        assertEquals(0, counters.get(Counter.INVALID_ACK_RST));
        assertEquals(0, replies.sent.size(), "no RST that would kill the other instance's connection");
        handoff.hostConnections = false;
        ack(gate, CLIENT, 40001, 1001, 0x5eed0001, 0);
        assertEquals(1, counters.get(Counter.INVALID_ACK_RST), "no such connection: the RST goes out");
    }

    @Test
    void shouldFlushTheRepliesAtTheEndOfEachDrain() {
        SegmentGate gate = gate(10);
        sendSyn(gate, CLIENT, 40000, 1000);
        assertEquals(0, replies.flushes);
        gate.endOfDrain();
        assertEquals(1, replies.flushes);
    }

    @Test
    void shouldCountAFailedSendOfASynAck() {
        SegmentGate gate = gate(10);
        replies.refuse = true;
        sendSyn(gate, CLIENT, 40000, 1000);
        assertEquals(1, counters.get(Counter.SYNACK_SEND_FAILED));
        assertEquals(0, counters.get(Counter.SYNACK_SENT));
    }

    @Test
    void shouldCountTheSegmentsOfAHandoffTheRawSocketRefused() {
        SegmentGate gate = openWindowGate();
        sendSyn(gate, CLIENT, 40000, 1000);
        parse(replies.last());
        int isn = reply.seq();
        replies.refuse = true;
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        assertEquals(1, counters.get(Counter.HANDOFFS), "the socket exists all the same");
        assertEquals(1, counters.get(Counter.HANDOFF_SEND_FAILED), "the window update");
        gate.onPacket(packet, 0, dataSegment(CLIENT, 40000, 1001, isn + 1, new byte[] {'G', 'E', 'T'}), 0, now[0]);
        assertEquals(2, counters.get(Counter.HANDOFF_SEND_FAILED), "and the early data");
        assertEquals(0, counters.get(Counter.EARLY_DATA));
    }

    @Test
    void shouldCountEveryMalformedPacketUnderItsReason() {
        SegmentGate gate = gate(10);
        writer.from(0, mapped(CLIENT), 40000).to(0, mapped(LOCAL), PORT)
                .seq(1).flags(TcpFlyweight.SYN).write(packet, 0);
        gate.onPacket(packet, 0, 10, 0, now[0]);
        assertEquals(1, counters.get(Reject.TRUNCATED_IP));
        packet.set(ValueLayout.JAVA_BYTE, 0, (byte) 0x35);
        gate.onPacket(packet, 0, 40, 0, now[0]);
        assertEquals(1, counters.get(Reject.NOT_IPV4));
        assertEquals(2, counters.get(Counter.PACKETS_REJECTED));
        assertEquals(0, counters.get(Counter.SYN_RECEIVED));
    }

    @Test
    void shouldDropAMartianSourceUnansweredUnlessItCameInOnLoopback() {
        SegmentGate gate = gate(10);
        // Loopback, multicast, limited broadcast, "this network", our own address: RFC 1122 3.2.1.3.
        for (int martian : new int[] {0x7F00_0001, 0xE000_0005, 0xFFFF_FFFF, 0x0001_0203, LOCAL}) {
            sendSyn(gate, martian, 40000, 1000);
        }
        int len = writer.from(0xFF02_0000_0000_0000L, 1, 40000).to(V6_PREFIX, 1, PORT).seq(1000)
                .flags(TcpFlyweight.SYN).write(packet, 0);
        assertEquals(Reject.NONE, gate.onPacket(packet, 0, len, 0, now[0]), "dropped, not malformed");
        assertEquals(6, counters.get(Counter.MARTIAN_SOURCE));
        assertEquals(0, counters.get(Counter.SYN_RECEIVED), "never reaches the handshake");
        assertEquals(0, replies.sent.size(), "never answered");
        // A local client on loopback legitimately has our address or 127/8 as its source.
        len = writer.from(0, mapped(LOCAL), 40000).to(0, mapped(LOCAL), PORT)
                .seq(1000).flags(TcpFlyweight.SYN).mss(1460).write(packet, 0);
        gate.onPacket(packet, 0, len, 0, true, now[0]);
        assertEquals(6, counters.get(Counter.MARTIAN_SOURCE));
        assertEquals(1, counters.get(Counter.SYNACK_SENT));
    }

    @Test
    void shouldSendTheClientsFinalAckToItselfSoTheNewSocketEchoesItsTsval() {
        SegmentGate gate = gate(10);
        int isn = syn(gate, CLIENT, 40000, 1000);
        int before = replies.sent.size();
        finalAckWithTimestamps(gate, isn, 777);
        assertEquals(1, counters.get(Counter.HANDOFFS));
        // With the zero window the client's request teaches the socket its TSval: the echo waits for a server that
        // speaks first, and only the window update leaves now.
        assertEquals(before + 1, replies.sent.size(), "the window update alone");
        parse(replies.last());
        assertEquals(CLIENT, reply.dst(), "the window update to the client");
        assertEquals(1, sink.beforeFirstReply.size());
        sink.beforeFirstReply.getFirst().run();
        Sent echo = replies.last();
        assertEquals(TcpSegment.mapped(LOCAL), echo.lo, "to our own address: it reaches the socket through loopback");
        parse(echo);
        assertEquals(CLIENT, reply.src());
        assertEquals(LOCAL, reply.dst());
        assertEquals(1001, reply.seq());
        assertEquals(isn + 1, reply.ack());
        assertEquals(777, reply.options().tsVal(), "the client's TSval, for the socket's ts_recent");
        // Seen again on loopback (every interface captured), the echo is no replay.
        packet.copyFrom(MemorySegment.ofArray(echo.bytes));
        gate.onPacket(packet, 0, echo.bytes.length, 0, true, now[0]);
        assertEquals(1, counters.get(Counter.ACK_LIVE));
        assertEquals(0, counters.get(Counter.REPLAY_LIVE));
        // Without timestamps there is nothing to echo: the window update alone.
        int sent = replies.sent.size();
        int isn2 = syn(gate, CLIENT + 1, 40000, 2000);
        ack(gate, CLIENT + 1, 40000, 2001, isn2 + 1, 0);
        assertEquals(sent + 2, replies.sent.size(), "SYN/ACK and window update");
    }

    /** With the window open at the SYN/ACK the final ACK may carry the request: the echo goes at once, as before. */
    @Test
    void shouldEchoTheTsvalAtOnceWithoutTheZeroWindow() {
        SegmentGate gate = openWindowGate();
        int isn = syn(gate, CLIENT, 40000, 1000);
        int before = replies.sent.size();
        finalAckWithTimestamps(gate, isn, 778);
        assertEquals(1, counters.get(Counter.HANDOFFS));
        assertEquals(before + 2, replies.sent.size(), "the echo, then the window update");
        Sent echo = replies.sent.get(before);
        assertEquals(TcpSegment.mapped(LOCAL), echo.lo);
        parse(echo);
        assertEquals(778, reply.options().tsVal());
        assertEquals(0, sink.beforeFirstReply.size(), "nothing left for later");
    }

    @Test
    void shouldPassAClientsFirstWindowOfDataToTheNewSocketAgainWithoutTheZeroWindow() {
        SegmentGate gate = openWindowGate();
        sendSyn(gate, CLIENT, 40000, 1000);
        parse(replies.last());
        int isn = reply.seq();
        assertEquals(65535, reply.window(), "no zero window");
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        assertEquals(1, counters.get(Counter.HANDOFFS));

        // The request, right behind the final ACK, with the partial checksum a local sender leaves on veth.
        byte[] request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        int len = dataSegment(CLIENT, 40000, 1001, isn + 1, request);
        packet.set(Bits.NET_SHORT, 20 + TcpFlyweight.CHECKSUM_OFFSET, (short) 0x1234);
        gate.onPacket(packet, 0, len, PacketRing.TP_STATUS_CSUMNOTREADY, now[0]);
        assertEquals(1, counters.get(Counter.EARLY_DATA));
        assertEquals(1, replies.packets.size());
        Sent copy = replies.packets.getFirst();
        assertEquals(TcpSegment.mapped(LOCAL), copy.lo(), "to our own address, through loopback");
        parse(copy);
        assertEquals(CLIENT, reply.src());
        assertEquals(1001, reply.seq());
        assertEquals(isn + 1, reply.ack());
        assertEquals(request.length, reply.payloadLength());
        assertArrayEquals(request, MemorySegment.ofArray(copy.bytes())
                .asSlice(reply.payloadOffset(), reply.payloadLength()).toArray(ValueLayout.JAVA_BYTE));

        // Once the client has heard from the socket (it acknowledges our data), or beyond the SYN/ACK's window, or on
        // loopback (where the copy itself comes back), the kernel has it: nothing is sent again.
        gate.onPacket(packet, 0, dataSegment(CLIENT, 40000, 1001 + request.length, isn + 154, request), 0, now[0]);
        gate.onPacket(packet, 0, dataSegment(CLIENT, 40000, 1001 + 65535, isn + 1, request), 0, now[0]);
        gate.onPacket(packet, 0, dataSegment(CLIENT, 40000, 1001, isn + 1, request), 0, true, now[0]);
        assertEquals(1, counters.get(Counter.EARLY_DATA));
        assertEquals(1, replies.packets.size());
        assertEquals(4, counters.get(Counter.ACK_LIVE));
    }

    @Test
    void shouldNotSendAgainWhatTheNewSocketAlreadyReceived() {
        SegmentGate gate = openWindowGate();
        sendSyn(gate, CLIENT, 40000, 1000);
        parse(replies.last());
        int isn = reply.seq();
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        byte[] part = new byte[100];
        handoff.received = 150; // the socket has the first segment whole and half of the second
        gate.onPacket(packet, 0, dataSegment(CLIENT, 40000, 1001, isn + 1, part), 0, now[0]);
        assertEquals(101, handoff.askedFd, "the socket of this connection was asked");
        assertEquals(1, counters.get(Counter.EARLY_DATA_HELD));
        assertTrue(replies.packets.isEmpty(), "bytes 0 to 99: the socket has them");
        gate.onPacket(packet, 0, dataSegment(CLIENT, 40000, 1101, isn + 1, part), 0, now[0]);
        assertEquals(1, counters.get(Counter.EARLY_DATA), "bytes 100 to 199: it lacks some, so all go again");
        handoff.received = -1;
        gate.onPacket(packet, 0, dataSegment(CLIENT, 40000, 1001, isn + 1, part), 0, now[0]);
        assertEquals(2, counters.get(Counter.EARLY_DATA), "unknown: sent again, as before the question");
        assertEquals(1, counters.get(Counter.EARLY_DATA_HELD));
        assertEquals(2, replies.packets.size());
    }

    @Test
    void shouldSendNoDataAgainWithTheZeroWindow() {
        SegmentGate gate = gate(10);
        int isn = syn(gate, CLIENT, 40000, 1000);
        ack(gate, CLIENT, 40000, 1001, isn + 1, 0);
        // A zero-window probe's one byte (or anything the filter would not pass): the client was told to wait.
        gate.onPacket(packet, 0, dataSegment(CLIENT, 40000, 1001, isn + 1, new byte[] {'G'}), 0, now[0]);
        assertEquals(1, counters.get(Counter.ACK_LIVE));
        assertEquals(0, counters.get(Counter.EARLY_DATA));
        assertTrue(replies.packets.isEmpty());
    }

    /** Writes an IPv4 ACK carrying {@code payload} into {@link #packet}, checksums whole; returns its length. */
    private int dataSegment(int client, int clientPort, int seq, int ack, byte[] payload) {
        int header = writer.from(0, mapped(client), clientPort).to(0, mapped(LOCAL), PORT)
                .seq(seq).ack(ack).flags(TcpFlyweight.ACK | TcpFlyweight.PSH).window(502).write(packet, 0);
        int len = header + payload.length;
        MemorySegment.copy(MemorySegment.ofArray(payload), 0, packet, header, payload.length);
        packet.set(Bits.NET_SHORT, Ipv4Flyweight.TOTAL_LENGTH_OFFSET, (short) len);
        packet.set(Bits.NET_SHORT, Ipv4Flyweight.CHECKSUM_OFFSET, (short) 0);
        packet.set(Bits.NET_SHORT, Ipv4Flyweight.CHECKSUM_OFFSET,
                Bits.fold(Bits.onesComplementSum(packet, 0, 20, 0)));
        packet.set(Bits.NET_SHORT, 20 + TcpFlyweight.CHECKSUM_OFFSET, (short) 0);
        packet.set(Bits.NET_SHORT, 20 + TcpFlyweight.CHECKSUM_OFFSET, (short) TcpChecksum.ipv4(packet, 0));
        return len;
    }

    /** Sends a SYN, returns the ISN of the SYN/ACK answering it (parsed into {@link #reply}). */
    private int syn(SegmentGate gate, int client, int clientPort, int clientIsn) {
        int before = replies.sent.size();
        sendSyn(gate, client, clientPort, clientIsn);
        assertEquals(before + 1, replies.sent.size(), "a SYN/ACK was sent");
        parse(replies.last());
        return reply.seq();
    }

    private void sendSyn(SegmentGate gate, int client, int clientPort, int clientIsn) {
        int len = writer.from(0, mapped(client), clientPort).to(0, mapped(LOCAL), PORT)
                .seq(clientIsn).flags(TcpFlyweight.SYN)
                .window(64240).mss(1460).wscale(7).sackPermitted(true).write(packet, 0);
        gate.onPacket(packet, 0, len, 0, now[0]);
    }

    /** CLIENT:40000's final ACK for {@code isn}, with timestamps (TSval {@code tsVal}). */
    private void finalAckWithTimestamps(SegmentGate gate, int isn, int tsVal) {
        int len = writer.from(0, mapped(CLIENT), 40000).to(0, mapped(LOCAL), PORT)
                .seq(1001).ack(isn + 1).flags(TcpFlyweight.ACK).window(502).timestamps(tsVal, 555).write(packet, 0);
        gate.onPacket(packet, 0, len, 0, now[0]);
    }

    private void ack(SegmentGate gate, int client, int clientPort, int seq, int ack, int status) {
        segment(gate, client, clientPort, seq, ack, TcpFlyweight.ACK, status);
    }

    private void segment(SegmentGate gate, int client, int clientPort, int seq, int ack, int flags, int status) {
        int len = writer.from(0, mapped(client), clientPort).to(0, mapped(LOCAL), PORT)
                .seq(seq).ack(ack).flags(flags).window(502).write(packet, 0);
        gate.onPacket(packet, 0, len, status, now[0]);
    }

    private void parse(Sent s) {
        MemorySegment m = MemorySegment.ofArray(s.bytes);
        assertEquals(Reject.NONE, reply.parse(m, 0, s.bytes.length, true), "our reply parses, checksums included");
    }

    private record Sent(byte[] bytes, long hi, long lo) {
    }

    /** Keeps a copy of every reply. */
    private static final class SentReplies implements Replies {
        final MemorySegment buffer = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        final MemorySegment packetBuffer = MemorySegment.ofArray(new byte[MAX_LOCAL_PACKET]);
        final List<Sent> sent = new ArrayList<>();
        final List<Sent> packets = new ArrayList<>();
        int flushes;
        boolean refuse;

        @Override
        public MemorySegment buffer() {
            return buffer;
        }

        @Override
        public boolean send(int length, long hi, long lo) {
            if (refuse) {
                return false;
            }
            sent.add(new Sent(buffer.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE), hi, lo));
            return true;
        }

        @Override
        public MemorySegment packetBuffer() {
            return packetBuffer;
        }

        @Override
        public boolean sendLocalPacket(int length, long hi, long lo) {
            if (refuse) {
                return false;
            }
            packets.add(new Sent(packetBuffer.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE), hi, lo));
            return true;
        }

        @Override
        public void flush() {
            flushes++;
        }

        Sent last() {
            assertNotNull(sent.isEmpty() ? null : sent.getLast(), "a reply was sent");
            return sent.getLast();
        }
    }

    /** Hands out descriptor numbers instead of sockets. */
    private static final class Handed implements Handoff {
        int calls;
        boolean fail;
        boolean hostConnections;
        AckVerdict last;
        /** What {@link #bytesReceived} says of socket 101, the first handed off; -1 (unknown) for any other. */
        long received = -1;
        int askedFd = -1;

        @Override
        public long bytesReceived(int fd) {
            askedFd = fd;
            return fd == 101 ? received : -1;
        }

        @Override
        public boolean hostHasConnection(TcpSegment segment) {
            return hostConnections;
        }

        @Override
        public int handoff(AckVerdict verdict, MemorySegment packet) throws LinuxException {
            if (fail) {
                throw new LinuxException("socket", 24);
            }
            calls++;
            last = verdict;
            return 100 + calls;
        }

        @Override
        public int lastReceiveWindow() {
            return WINDOW;
        }
    }

    /** Keeps each adopted connection's close callback, for the test to close it, and what it is to run before a reply. */
    private static final class Adopted implements ConnectionSink {
        final List<Runnable> adopted = new ArrayList<>();
        final List<Runnable> beforeFirstReply = new ArrayList<>();

        @Override
        public void adopt(int fd, AckVerdict verdict, Runnable onClose) {
            adopted.add(onClose);
        }

        @Override
        public void adopt(int fd, AckVerdict verdict, Runnable onClose, Runnable beforeReply) {
            if (beforeReply != null) {
                beforeFirstReply.add(beforeReply);
            }
            adopt(fd, verdict, onClose);
        }
    }
}
