package io.synproxy.handshake;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpOptions;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;
import io.synproxy.testsupport.TcpPacket;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HandshakeTest {

    // Client 192.168.1.10:51234 -> us 93.184.216.34:443; values with the sign bit set where they can have it.
    private static final int CLIENT = 0xc0a8010a;
    private static final int LOCAL = 0x5db8d822;
    private static final int CLIENT_PORT = 51234;
    private static final int LOCAL_PORT = 443;
    private static final int CLIENT_ISN = 0x9a3f12c7;
    private static final int CLIENT_TSVAL = 0x6b2c1f3a;
    private static final int CLIENT_WINDOW = 64240;

    /** Deliberately not equal to the client's 1460, so the test can tell the two apart; also caps the verdict. */
    private static final int OUR_MSS = 1440;
    /** Deliberately not equal to any client shift used below. */
    private static final int OUR_WSCALE = 9;
    /** Odd on purpose: the SYN/ACK must clear the low bit. */
    private static final int TS_NOW = 0x0123_4567;

    private static final long PERIOD = 60_000;
    private static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    private static final ClientOptions LINUX = new ClientOptions(1460, 10, true, true);

    private static final int WARM_UP = 200_000;
    private static final int MEASURED = 50_000;
    private static final int ROUNDS = 5;

    private long nowMillis = 28_000_000L * PERIOD + 12_345;
    private final SynCookie cookies = new SynCookie(new KeyRing(SECRET, PERIOD, () -> nowMillis));

    /** The options a client puts in its SYN; -1 means the option is absent. */
    record ClientOptions(int mss, int wscale, boolean sack, boolean timestamps) {
    }

    // ---------------------------------------------------------------------------------------------
    // SYN -> SYN/ACK

    @ParameterizedTest(name = "zeroWindow={0}")
    @ValueSource(booleans = {true, false})
    void shouldAnswerLinuxSynWithCookieSynAckCarryingOurOptions(boolean zeroWindow) {
        Handshake handshake = handshake(zeroWindow);

        byte[] synAck = synAck(handshake, LINUX);
        TcpSegment p = parse(synAck);

        assertTrue(checksumsVerify(synAck), "independently recomputed IPv4 and TCP checksums");
        assertEquals(LOCAL, p.src());
        assertEquals(CLIENT, p.dst());
        assertEquals(LOCAL_PORT, p.srcPort());
        assertEquals(CLIENT_PORT, p.dstPort());
        assertEquals(TcpFlyweight.SYN | TcpFlyweight.ACK, p.flags());
        assertEquals(CLIENT_ISN + 1, p.ack());
        assertEquals(zeroWindow ? 0 : 65535, p.window());
        assertEquals(0, p.payloadLength());

        TcpOptions o = p.options();
        assertEquals(OUR_MSS, o.mss());
        assertEquals(OUR_WSCALE, o.wscale());
        assertTrue(o.sackPermitted());
        assertTrue(o.hasTimestamps());
        assertEquals(CLIENT_TSVAL, o.tsEcr(), "TSecr echoes the client's TSval");
        assertEquals(TS_NOW & ~1, o.tsVal(), "our TSval is our clock with the low bit cleared");
        assertEquals(0, o.tsVal() & 1, "TSval must be even");
    }

    @Test
    void shouldUseACookieAsOurIsnThatEncodesTheClientsOptions() {
        byte[] synAck = synAck(handshake(true), LINUX);
        int isn = parse(synAck).seq();

        int bits = cookies.verify(CLIENT, LOCAL, CLIENT_PORT, LOCAL_PORT, CLIENT_ISN, isn);
        assertTrue(bits >= 0, "our ISN is a valid cookie for the SYN's tuple and sequence number");
        assertTrue(SynCookie.sackOf(bits));
        assertEquals(7, SynCookie.mssIndexOf(bits), "1460 is the top MSS table entry");
        assertEquals(11, SynCookie.wscaleIndexOf(bits), "shift 10, exactly (index = shift + 1)");
    }

    @Test
    void shouldLeaveOutTimestampsWhenTheSynHadNone() {
        TcpOptions o = parse(synAck(handshake(true), new ClientOptions(1460, 10, true, false))).options();
        assertFalse(o.hasTimestamps());
        assertEquals(OUR_MSS, o.mss());
        assertEquals(OUR_WSCALE, o.wscale());
        assertTrue(o.sackPermitted(), "SACK_PERM travels on its own when there is no timestamp option");
    }

    @Test
    void shouldDeclineEcnBecauseARepairedSocketCannotUseIt() {
        byte[] syn = packet().seq(CLIENT_ISN).ack(0).flags(TcpFlyweight.SYN | TcpFlyweight.ECE | TcpFlyweight.CWR)
            .window(CLIENT_WINDOW).mss(1460).wscale(7).sackPermitted(true).timestamps(CLIENT_TSVAL, 0).bytes();
        byte[] out = new byte[TcpSegmentWriter.MAX_LENGTH_IPV4];
        int len = handshake(true).synAck(parse(syn), MemorySegment.ofArray(out), 0, TS_NOW);
        TcpSegment synAck = parse(Arrays.copyOf(out, len));
        assertEquals(TcpFlyweight.SYN | TcpFlyweight.ACK, synAck.flags(), "no ECE: the client falls back to not-ECT");
    }

    @Test
    void shouldTakeTimestampsFromTheFinalAckWhichCarriesThemExactlyWhenTheSynAndSynAckDid() {
        Handshake handshake = handshake(true);
        ClientOptions noTs = new ClientOptions(1460, 10, true, false);
        TcpSegment synAck = parse(synAck(handshake, noTs));
        AckVerdict v = new AckVerdict();
        // RFC 7323 3.2: without TSopt in both SYN and SYN/ACK the client sends none afterwards.
        assertTrue(handshake.verifyAck(parse(finalAck(synAck.seq() + 1)), v));
        assertFalse(v.timestamps());
        assertTrue(v.sack(), "SACK and window scale come from the cookie, not from timestamps");
        assertEquals(10, v.clientWscale());
    }

    @Test
    void shouldLeaveOutWindowScaleWhenTheSynHadNone() {
        TcpOptions o = parse(synAck(handshake(true), new ClientOptions(1460, -1, true, true))).options();
        assertEquals(-1, o.wscale(), "RFC 7323: no window scale option in a SYN/ACK to a SYN without one");
        assertEquals(OUR_MSS, o.mss());
        assertTrue(o.sackPermitted());
        assertTrue(o.hasTimestamps());
    }

    @Test
    void shouldAnnounceWindowScaleWhenTheClientSentShiftZero() {
        TcpOptions o = parse(synAck(handshake(true), new ClientOptions(1460, 0, false, false))).options();
        assertEquals(OUR_WSCALE, o.wscale(), "a shift of 0 still means the client scales");
    }

    @Test
    void shouldLeaveOutSackPermittedWhenTheSynHadNone() {
        TcpOptions o = parse(synAck(handshake(true), new ClientOptions(1460, 10, false, true))).options();
        assertFalse(o.sackPermitted());
        assertTrue(o.hasTimestamps());
        assertEquals(OUR_WSCALE, o.wscale());
    }

    @Test
    void shouldStillAnnounceOurMssWhenTheSynHadNone() {
        Handshake handshake = handshake(true);
        byte[] synAck = synAck(handshake, new ClientOptions(-1, -1, false, false));
        TcpSegment p = parse(synAck);
        TcpOptions o = p.options();
        // RFC 9293 3.7.1: the MSS option may be sent in every SYN; only the options the client must offer first are left out.
        assertEquals(OUR_MSS, o.mss());
        assertEquals(-1, o.wscale());
        assertFalse(o.sackPermitted());
        assertFalse(o.hasTimestamps());
        assertEquals(20 + 20 + 4, synAck.length, "IPv4 + TCP + MSS option only");
        assertEquals(6, p.tcp().dataOffset());
    }

    @Test
    void shouldWriteTheSynAckAtTheGivenOffset() {
        Handshake handshake = handshake(true);
        TcpSegment syn = parse(syn(LINUX));
        byte[] buf = new byte[14 + TcpSegmentWriter.MAX_LENGTH_IPV4 + 7];
        Arrays.fill(buf, (byte) 0x5a);

        int len = handshake.synAck(syn, MemorySegment.ofArray(buf), 14, TS_NOW);

        for (int i = 0; i < 14; i++) {
            assertEquals((byte) 0x5a, buf[i], "byte " + i + " before the offset is untouched");
        }
        for (int i = 14 + len; i < buf.length; i++) {
            assertEquals((byte) 0x5a, buf[i], "byte " + i + " after the packet is untouched");
        }
        TcpSegment p = new TcpSegment();
        assertEquals(Reject.NONE, p.parse4(MemorySegment.ofArray(buf), 14, len, true));
        assertEquals(CLIENT_ISN + 1, p.ack());
    }

    // ---------------------------------------------------------------------------------------------
    // Final ACK -> verdict

    static Stream<Arguments> optionCombinations() {
        return Stream.of(
            // client options,                          mss,  clientWscale, ourWscale
            Arguments.of(LINUX,                                1440, 10, OUR_WSCALE), // 1460 capped at our 1440
            Arguments.of(new ClientOptions(1460, 7, true, false),  1440, 7, OUR_WSCALE),
            Arguments.of(new ClientOptions(1380, 7, true, true),   1360, 7, OUR_WSCALE),
            Arguments.of(new ClientOptions(1200, -1, false, true), 1200, -1, -1),
            Arguments.of(new ClientOptions(-1, -1, false, false),  536, -1, -1),   // no MSS: RFC 9293 default
            Arguments.of(new ClientOptions(9000, 14, true, true),  1440, 14, OUR_WSCALE),
            Arguments.of(new ClientOptions(1452, 3, false, false), 1440, 3, OUR_WSCALE),
            Arguments.of(new ClientOptions(1441, 5, true, false),  1440, 5, OUR_WSCALE),
            Arguments.of(new ClientOptions(1439, 1, false, true),  1400, 1, OUR_WSCALE),
            Arguments.of(new ClientOptions(536, 0, true, true),    536, 0, OUR_WSCALE),
            Arguments.of(new ClientOptions(1000, 15, false, true), 536, 14, OUR_WSCALE), // shift > 14 counts as 14
            Arguments.of(new ClientOptions(300, 8, true, false),   256, 8, OUR_WSCALE),
            Arguments.of(new ClientOptions(200, 9, true, true),    48, 9, OUR_WSCALE)); // never above the client's
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("optionCombinations")
    void shouldVerifyTheFinalAckOfARoundTripAndReportTheNegotiatedOptions(
            ClientOptions client, int mss, int clientWscale, int ourWscale) {
        Handshake handshake = handshake(true);
        TcpSegment synAck = parse(synAck(handshake, client));
        int isn = synAck.seq();
        int ourTsVal = synAck.options().tsVal();
        assertEquals(client.timestamps(), synAck.options().hasTimestamps());

        TcpPacket ackPacket = packet().seq(CLIENT_ISN + 1).ack(isn + 1).flags(TcpFlyweight.ACK).window(502);
        byte[] ack = (client.timestamps() ? ackPacket.timestamps(CLIENT_TSVAL + 5, ourTsVal) : ackPacket).bytes();
        AckVerdict v = new AckVerdict();

        assertTrue(handshake.verifyAck(parse(ack), v));
        assertEquals(CLIENT, v.clientAddress());
        assertEquals(LOCAL, v.localAddress());
        assertEquals(CLIENT_PORT, v.clientPort());
        assertEquals(LOCAL_PORT, v.localPort());
        assertEquals(isn, v.isn());
        assertEquals(CLIENT_ISN, v.clientIsn());
        assertEquals(mss, v.mss(), "client MSS rounded down to the table, capped at ours");
        assertEquals(clientWscale, v.clientWscale(), "the client's exact shift");
        assertEquals(ourWscale, v.ourWscale());
        assertEquals(client.sack(), v.sack());
        assertEquals(client.timestamps(), v.timestamps());
        if (client.timestamps()) {
            assertEquals(CLIENT_TSVAL + 5, v.clientTsVal(), "the final ACK's TSval");
            assertEquals(TS_NOW & ~1, v.ourTsVal(), "our SYN/ACK TSval, as echoed");
        }
        assertEquals(502, v.clientWindow());
        assertEquals(0, v.payloadLength());
        assertEquals(CLIENT_ISN + 1, v.clientNextSeq());
    }

    @ParameterizedTest(name = "client shift {0} -> {1}")
    @CsvSource({"0, 0", "1, 1", "2, 2", "3, 3", "4, 4", "5, 5", "6, 6", "7, 7", "8, 8", "9, 9", "10, 10", "11, 11",
        "12, 12", "13, 13", "14, 14", "15, 14", "255, 14"})
    void shouldKeepTheClientsWindowScaleExactlyThroughTheCookie(int clientShift, int expected) {
        Handshake handshake = handshake(true);
        for (boolean timestamps : new boolean[] {true, false}) {
            TcpSegment synAck = parse(synAck(handshake, new ClientOptions(1460, clientShift, true, timestamps)));
            AckVerdict v = new AckVerdict();
            assertTrue(handshake.verifyAck(parse(finalAck(synAck.seq() + 1)), v));
            assertEquals(expected, v.clientWscale(), "RFC 7323 2.3: the exact shift, 15 and above taken as 14");
        }
    }

    @Test
    void shouldNeverTakeAClientMssAboveTheOneItAnnounced() {
        Handshake handshake = new Handshake(cookies, 9000, OUR_WSCALE, true);
        for (int clientMss = 48; clientMss <= 9000; clientMss++) {
            TcpSegment synAck = parse(synAck(handshake, new ClientOptions(clientMss, 7, true, true)));
            AckVerdict v = new AckVerdict();
            assertTrue(handshake.verifyAck(parse(finalAck(synAck.seq() + 1)), v));
            assertTrue(v.mss() <= clientMss, "RFC 9293 MUST-16: client MSS " + clientMss + ", verdict " + v.mss());
        }
    }

    @Test
    void shouldWriteTheTimestampEchoAsTheClientsFinalAckToUs() {
        Handshake handshake = handshake(true);
        TcpSegment synAck = parse(synAck(handshake, LINUX));
        int isn = synAck.seq();
        byte[] ack = packet().seq(CLIENT_ISN + 1).ack(isn + 1).flags(TcpFlyweight.ACK).window(502)
            .timestamps(CLIENT_TSVAL + 5, synAck.options().tsVal()).bytes();
        AckVerdict v = new AckVerdict();
        assertTrue(handshake.verifyAck(parse(ack), v));

        byte[] out = new byte[TcpSegmentWriter.MAX_LENGTH_IPV4];
        int len = handshake.timestampEcho(v, MemorySegment.ofArray(out), 0);
        TcpSegment echo = parse(Arrays.copyOf(out, len));
        assertEquals(CLIENT, echo.src(), "from the client");
        assertEquals(LOCAL, echo.dst(), "to us: it reaches the new socket through loopback");
        assertEquals(CLIENT_PORT, echo.srcPort());
        assertEquals(LOCAL_PORT, echo.dstPort());
        assertEquals(TcpFlyweight.ACK, echo.flags());
        assertEquals(CLIENT_ISN + 1, echo.seq(), "at rcv_wup, where the kernel takes ts_recent from");
        assertEquals(isn + 1, echo.ack());
        assertEquals(502, echo.window(), "the client's own window: the socket's snd_wnd stays as repaired");
        assertEquals(0, echo.payloadLength());
        assertEquals(CLIENT_TSVAL + 5, echo.options().tsVal(), "the client's latest TSval");
        assertEquals(TS_NOW & ~1, echo.options().tsEcr());

        AckVerdict noTs = new AckVerdict();
        TcpSegment plain = parse(synAck(handshake, new ClientOptions(1460, 7, true, false)));
        assertTrue(handshake.verifyAck(parse(finalAck(plain.seq() + 1)), noTs));
        assertEquals(0, handshake.timestampEcho(noTs, MemorySegment.ofArray(out), 0), "no timestamps, no echo");
    }

    @Test
    void shouldVerifyAFinalAckThatCarriesDataAndLocateThePayload() {
        Handshake handshake = handshake(true);
        TcpSegment synAck = parse(synAck(handshake, LINUX));
        int isn = synAck.seq();
        byte[] payload = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

        byte[] ack = packet().seq(CLIENT_ISN + 1).ack(isn + 1).flags(TcpFlyweight.ACK | TcpFlyweight.PSH)
            .timestamps(CLIENT_TSVAL + 1, synAck.options().tsVal()).payload(payload).bytes();
        AckVerdict v = new AckVerdict();

        assertTrue(handshake.verifyAck(parse(ack), v));
        assertEquals(CLIENT_ISN, v.clientIsn());
        assertEquals(payload.length, v.payloadLength());
        assertEquals(20 + 32, v.payloadOffset(), "after IPv4 and a TCP header with the timestamp option");
        assertArrayEquals(payload, Arrays.copyOfRange(ack, (int) v.payloadOffset(),
            (int) v.payloadOffset() + v.payloadLength()));
        assertEquals(CLIENT_ISN + 1 + payload.length, v.clientNextSeq());
    }

    @Test
    void shouldVerifyTheZeroWindowProbeWhoseSequenceNumberIsTheClientIsn() {
        Handshake handshake = handshake(true);
        TcpSegment synAck = parse(synAck(handshake, LINUX));
        int isn = synAck.seq();

        // Linux probes a zero window with seq = snd_una - 1, i.e. the client ISN, and no data.
        byte[] probe = packet().seq(CLIENT_ISN).ack(isn + 1).flags(TcpFlyweight.ACK)
            .timestamps(CLIENT_TSVAL + 200, synAck.options().tsVal()).bytes();
        AckVerdict v = new AckVerdict();

        assertTrue(handshake.verifyAck(parse(probe), v));
        assertEquals(CLIENT_ISN, v.clientIsn());
        assertEquals(isn, v.isn());
        assertEquals(0, v.payloadLength());
        assertEquals(CLIENT_ISN + 1, v.clientNextSeq());
        assertEquals(1440, v.mss());
        assertEquals(10, v.clientWscale());
        assertEquals(OUR_WSCALE, v.ourWscale());
        assertTrue(v.sack());
        assertEquals(CLIENT_TSVAL + 200, v.clientTsVal());
    }

    @Test
    void shouldRejectDataSentAtTheProbeSequenceNumber() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, LINUX)).seq();
        byte[] ack = packet().seq(CLIENT_ISN).ack(isn + 1).flags(TcpFlyweight.ACK).payload(new byte[] {1, 2, 3})
            .bytes();
        assertFalse(handshake.verifyAck(parse(ack), new AckVerdict()),
            "only an empty segment may use the probe's sequence number");
    }

    @Test
    void shouldRejectAnAckWithTheWrongAckNumber() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, LINUX)).seq();
        assertFalse(handshake.verifyAck(parse(finalAck(isn + 2)), new AckVerdict()));
        assertFalse(handshake.verifyAck(parse(finalAck(isn)), new AckVerdict()));
        assertTrue(handshake.verifyAck(parse(finalAck(isn + 1)), new AckVerdict()), "control: the right one passes");
    }

    @Test
    void shouldRejectAnAckWithTheWrongSequenceNumber() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, LINUX)).seq();
        assertFalse(handshake.verifyAck(parse(finalAck(isn + 1).seq(CLIENT_ISN + 2).bytes()), new AckVerdict()));
        assertFalse(handshake.verifyAck(parse(finalAck(isn + 1).seq(CLIENT_ISN - 1).bytes()), new AckVerdict()));
    }

    @Test
    void shouldRejectAnAckFromTheWrongSourcePort() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, LINUX)).seq();
        assertFalse(handshake.verifyAck(parse(finalAck(isn + 1).srcPort(CLIENT_PORT + 1).bytes()), new AckVerdict()));
    }

    @Test
    void shouldRejectAnAckFromTheWrongSourceAddress() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, LINUX)).seq();
        assertFalse(handshake.verifyAck(parse(finalAck(isn + 1).srcIpv4(CLIENT + 1).bytes()), new AckVerdict()));
    }

    @Test
    void shouldRejectAnAckToTheWrongLocalAddressOrPort() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, LINUX)).seq();
        assertFalse(handshake.verifyAck(parse(finalAck(isn + 1).dstIpv4(LOCAL + 1).bytes()), new AckVerdict()));
        assertFalse(handshake.verifyAck(parse(finalAck(isn + 1).dstPort(LOCAL_PORT + 1).bytes()), new AckVerdict()));
    }

    @Test
    void shouldStillAcceptAnAckOneKeyPeriodLater() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, LINUX)).seq();
        nowMillis += PERIOD;
        assertTrue(handshake.verifyAck(parse(finalAck(isn + 1)), new AckVerdict()));
    }

    @Test
    void shouldRejectAnAckAfterTheKeyExpired() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, LINUX)).seq();
        nowMillis += 2 * PERIOD;
        assertFalse(handshake.verifyAck(parse(finalAck(isn + 1)), new AckVerdict()));
        assertFalse(handshake.verifyAck(parse(finalAck(isn + 1).seq(CLIENT_ISN).bytes()), new AckVerdict()),
            "nor its zero-window probe");
    }

    // ---------------------------------------------------------------------------------------------
    // Window update

    @ParameterizedTest(name = "windowBytes={0} -> window {1}")
    @CsvSource({
        "1048576, 2048",   // 1 MiB >>> 9
        "6291456, 12288",  // 6 MiB >>> 9
        "1000, 1",         // 1000 >>> 9
        "100, 0",          // rounds down to zero
        "33554432, 65535", // 32 MiB >>> 9 = 65536: clamped to the 16-bit field
        "2147483647, 65535"})
    void shouldOpenTheWindowWithAnInSequenceAckEchoingTimestamps(int windowBytes, int window) {
        Handshake handshake = handshake(true);
        TcpSegment synAck = parse(synAck(handshake, LINUX));
        int isn = synAck.seq();
        AckVerdict v = new AckVerdict();
        assertTrue(handshake.verifyAck(parse(finalAck(isn + 1)
            .timestamps(CLIENT_TSVAL + 3, synAck.options().tsVal()).bytes()), v));

        byte[] update = windowUpdate(handshake, v, windowBytes);
        TcpSegment p = parse(update);

        assertTrue(checksumsVerify(update));
        assertEquals(LOCAL, p.src());
        assertEquals(CLIENT, p.dst());
        assertEquals(LOCAL_PORT, p.srcPort());
        assertEquals(CLIENT_PORT, p.dstPort());
        assertEquals(TcpFlyweight.ACK, p.flags(), "ACK only");
        assertEquals(isn + 1, p.seq());
        assertEquals(CLIENT_ISN + 1, p.ack());
        assertEquals(window, p.window());
        assertEquals(0, p.payloadLength());
        TcpOptions o = p.options();
        assertTrue(o.hasTimestamps());
        assertEquals(TS_NOW & ~1, o.tsVal(), "TSval = ourTsVal");
        assertEquals(CLIENT_TSVAL + 3, o.tsEcr(), "TSecr = the client's last TSval");
        assertEquals(-1, o.mss());
        assertEquals(-1, o.wscale());
        assertFalse(o.sackPermitted());
    }

    @ParameterizedTest(name = "windowBytes={0} -> window {1}")
    @CsvSource({"30000, 30000", "65535, 65535", "65536, 65535", "1048576, 65535"})
    void shouldOpenTheWindowUnscaledWhenTheClientDoesNotScale(int windowBytes, int window) {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, new ClientOptions(1460, -1, true, false))).seq();
        AckVerdict v = new AckVerdict();
        assertTrue(handshake.verifyAck(parse(finalAck(isn + 1)), v));
        assertEquals(-1, v.ourWscale());

        TcpSegment p = parse(windowUpdate(handshake, v, windowBytes));

        assertEquals(window, p.window());
        assertEquals(TcpFlyweight.ACK, p.flags());
        assertFalse(p.options().hasTimestamps(), "no timestamps when they were not negotiated");
        assertEquals(20, p.tcp().headerLength(), "no options at all");
    }

    @Test
    void shouldAcknowledgeTheDataOfTheFinalAckInTheWindowUpdate() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, new ClientOptions(1460, 7, true, false))).seq();
        AckVerdict v = new AckVerdict();
        assertTrue(handshake.verifyAck(parse(finalAck(isn + 1).payload(new byte[100]).bytes()), v));

        TcpSegment p = parse(windowUpdate(handshake, v, 1 << 20));

        assertEquals(isn + 1, p.seq());
        assertEquals(CLIENT_ISN + 1 + 100, p.ack());
        assertEquals((1 << 20) >>> OUR_WSCALE, p.window());
        assertFalse(p.options().hasTimestamps());
    }

    @Test
    void shouldAcknowledgeTheClientIsnPlusOneAfterAProbe() {
        Handshake handshake = handshake(true);
        int isn = parse(synAck(handshake, LINUX)).seq();
        AckVerdict v = new AckVerdict();
        assertTrue(handshake.verifyAck(parse(finalAck(isn + 1).seq(CLIENT_ISN).bytes()), v));

        TcpSegment p = parse(windowUpdate(handshake, v, 1 << 20));
        assertEquals(isn + 1, p.seq());
        assertEquals(CLIENT_ISN + 1, p.ack());
    }

    // ---------------------------------------------------------------------------------------------
    // Flag classification

    @ParameterizedTest(name = "{0}: isSyn={1}, isAck={2}")
    @CsvSource({
        "SYN,         true,  false",
        "SYN|ECE|CWR, true,  false",
        "SYN|ACK,     false, false",
        "ACK,         false, true",
        "ACK|PSH,     false, true",
        "ACK|URG|ECE, false, true",
        "RST|ACK,     false, false",
        "FIN|ACK,     false, false",
        "RST,         false, false",
        "SYN|RST,     false, false",
        "SYN|FIN,     false, false",
        "PSH,         false, false"})
    void shouldClassifySynsAndAcksByTheirFlags(String flagNames, boolean syn, boolean ack) {
        int flags = flags(flagNames);
        assertEquals(syn, Handshake.isSyn(flags), "isSyn(" + flagNames + ")");
        assertEquals(ack, Handshake.isAck(flags), "isAck(" + flagNames + ")");
    }

    // ---------------------------------------------------------------------------------------------
    // Allocation

    @Test
    void shouldNotAllocateOnTheSynPathOrTheInvalidAckPath() {
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        Assumptions.assumeTrue(bean instanceof com.sun.management.ThreadMXBean);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) bean;
        Assumptions.assumeTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled());

        Handshake handshake = handshake(true);
        TcpSegment syn = parse(syn(LINUX));
        int isn = parse(synAck(handshake, LINUX)).seq();
        // Wrong ack number and no payload: both the final-ACK and the probe interpretation are tried and fail.
        TcpSegment badAck = parse(finalAck(isn + 2));
        AckVerdict verdict = new AckVerdict();
        MemorySegment out = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH_IPV4]);

        long sink = run(WARM_UP, handshake, syn, badAck, verdict, out);
        long best = Long.MAX_VALUE;
        for (int round = 0; round < ROUNDS; round++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            sink += run(MEASURED, handshake, syn, badAck, verdict, out);
            best = Math.min(best, threads.getCurrentThreadAllocatedBytes() - before);
        }
        // A one-off JIT transition may allocate in one round; a steady state allocates nothing.
        assertEquals(0, best, "bytes allocated in the best of " + ROUNDS + " rounds of " + MEASURED
            + " SYN/ACKs + invalid ACKs (sink " + sink + ")");
    }

    private static long run(int n, Handshake handshake, TcpSegment syn, TcpSegment badAck, AckVerdict verdict,
                            MemorySegment out) {
        long sink = 0;
        for (int i = 0; i < n; i++) {
            sink += handshake.synAck(syn, out, 0, i << 1);
            sink += handshake.verifyAck(badAck, verdict) ? 1 : 0;
        }
        return sink;
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers

    private Handshake handshake(boolean zeroWindow) {
        return new Handshake(cookies, OUR_MSS, OUR_WSCALE, zeroWindow);
    }

    private static byte[] syn(ClientOptions o) {
        TcpPacket syn = packet().seq(CLIENT_ISN).ack(0).flags(TcpFlyweight.SYN).window(CLIENT_WINDOW)
            .mss(o.mss()).wscale(o.wscale()).sackPermitted(o.sack());
        return (o.timestamps() ? syn.timestamps(CLIENT_TSVAL, 0) : syn).bytes();
    }

    private static byte[] synAck(Handshake handshake, ClientOptions o) {
        byte[] out = new byte[TcpSegmentWriter.MAX_LENGTH_IPV4];
        int len = handshake.synAck(parse(syn(o)), MemorySegment.ofArray(out), 0, TS_NOW);
        return Arrays.copyOf(out, len);
    }

    private static byte[] windowUpdate(Handshake handshake, AckVerdict v, int windowBytes) {
        byte[] out = new byte[TcpSegmentWriter.MAX_LENGTH_IPV4];
        int len = handshake.windowUpdate(v, windowBytes, MemorySegment.ofArray(out), 0);
        return Arrays.copyOf(out, len);
    }

    /** A client segment from CLIENT:CLIENT_PORT to LOCAL:LOCAL_PORT, no options yet. */
    private static TcpPacket packet() {
        return TcpPacket.ipv4(CLIENT, LOCAL).ports(CLIENT_PORT, LOCAL_PORT).window(CLIENT_WINDOW).noOptions();
    }

    /** The final ACK of the handshake with the given ack number, no options, no data. */
    private static TcpPacket finalAck(int ackNumber) {
        return packet().seq(CLIENT_ISN + 1).ack(ackNumber).flags(TcpFlyweight.ACK).window(502);
    }

    private static TcpSegment parse(TcpPacket packet) {
        return parse(packet.bytes());
    }

    /** Both checksums verify under test-support's independent sums, and the IP total length is the array's. */
    private static boolean checksumsVerify(byte[] b) {
        return ((b[2] & 0xFF) << 8 | (b[3] & 0xFF)) == b.length && TcpPacket.checksumsValid(b, 0);
    }

    /** Parses an IPv4/TCP packet, both checksums verified; fails the test if it does not parse. */
    private static TcpSegment parse(byte[] packet) {
        TcpSegment p = new TcpSegment();
        assertEquals(Reject.NONE, p.parse4(MemorySegment.ofArray(packet), 0, packet.length, true));
        return p;
    }

    private static int flags(String names) {
        int flags = 0;
        for (String name : names.split("\\|")) {
            flags |= switch (name.strip()) {
                case "FIN" -> TcpFlyweight.FIN;
                case "SYN" -> TcpFlyweight.SYN;
                case "RST" -> TcpFlyweight.RST;
                case "PSH" -> TcpFlyweight.PSH;
                case "ACK" -> TcpFlyweight.ACK;
                case "URG" -> TcpFlyweight.URG;
                case "ECE" -> TcpFlyweight.ECE;
                case "CWR" -> TcpFlyweight.CWR;
                default -> throw new IllegalArgumentException(name);
            };
        }
        return flags;
    }
}
