package io.synproxy.packet;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TcpSegmentIpv6Test {
    /**
     * A Linux-style IPv6 SYN built by hand, TCP checksum computed independently in Python (RFC 8200 pseudo-header):
     * 2001:db8::10 -> 2001:db8::1, traffic class 0, flow label 0x12345, payload 40, next header 6, hop limit 64;
     * TCP 51234 -> 443, seq 0x9a3f12c7, SYN, window 64800, checksum 0xee25, options MSS 1440, SACK_PERM,
     * TS val 0x6b2c1f3a ecr 0, NOP, WS 7.
     */
    static final String SYN6_HEX = ""
        + "60012345" + "0028" + "06" + "40"
        + "20010db8000000000000000000000010"
        + "20010db8000000000000000000000001"
        + "c82201bb" + "9a3f12c7" + "00000000" + "a002fd20" + "ee250000"
        + "020405a0" + "0402080a" + "6b2c1f3a" + "00000000" + "01030307";

    static final long SRC_HI = 0x2001_0db8_0000_0000L;
    static final long SRC_LO = 0x10L;
    static final long DST_HI = 0x2001_0db8_0000_0000L;
    static final long DST_LO = 0x1L;
    static final int TCP = 40;

    private final TcpSegment parser = new TcpSegment();

    static byte[] syn6() {
        return HexFormat.of().parseHex(SYN6_HEX);
    }

    private Reject parse(byte[] packet) {
        return parser.parse6(MemorySegment.ofArray(packet), 0, packet.length, true);
    }

    @Test
    void shouldCopyAPacketWithItsChecksumMadeWhole() {
        byte[] captured = syn6();
        // What a local sender leaves for the NIC: here any wrong value, unverified as TP_STATUS_CSUMNOTREADY allows.
        captured[TCP + 16] = 0x12;
        captured[TCP + 17] = 0x34;
        MemorySegment seg = MemorySegment.ofArray(captured);
        assertEquals(Reject.NONE, parser.parse6(seg, 0, captured.length, false));
        MemorySegment to = MemorySegment.ofArray(new byte[128]);
        assertEquals(captured.length, parser.copyWithChecksum(seg, to));
        byte[] copy = to.asSlice(0, captured.length).toArray(ValueLayout.JAVA_BYTE);
        assertArrayEquals(syn6(), copy, "the packet as sent, checksum 0xee25 (computed independently)");
        assertEquals(-1, parser.copyWithChecksum(seg, MemorySegment.ofArray(new byte[captured.length - 1])),
                "too small a buffer: nothing copied");
    }

    @Test
    void shouldParseTheHandBuiltIpv6Syn() {
        assertEquals(Reject.NONE, parse(syn6()));
        assertEquals(SRC_HI, parser.srcHi());
        assertEquals(SRC_LO, parser.srcLo());
        assertEquals(DST_HI, parser.dstHi());
        assertEquals(DST_LO, parser.dstLo());
        assertEquals(51234, parser.srcPort());
        assertEquals(443, parser.dstPort());
        assertEquals(0x9a3f12c7, parser.seq());
        assertEquals(TcpFlyweight.SYN, parser.flags());
        assertEquals(64800, parser.window());
        assertEquals(0, parser.extensionHeaders());
        assertEquals(80, parser.payloadOffset());
        assertEquals(0, parser.payloadLength());
        assertEquals(0xee25, parser.tcp().checksum());
        TcpOptions o = parser.options();
        assertEquals(1440, o.mss());
        assertTrue(o.sackPermitted());
        assertEquals(0x6b2c1f3a, o.tsVal());
        assertEquals(7, o.wscale());
    }

    @Test
    void shouldComputeTheIndependentlyComputedChecksum() {
        byte[] p = syn6();
        p[TCP + 16] = 0;
        p[TCP + 17] = 0;
        MemorySegment seg = MemorySegment.ofArray(p);
        assertEquals(0xee25, TcpChecksum.ipv6(seg, 0, TCP, 40));
        assertEquals(0, TcpChecksum.ipv6(MemorySegment.ofArray(syn6()), 0, TCP, 40));
    }

    @Test
    void shouldWriteTheVectorByteForByte() {
        byte[] out = new byte[TcpSegmentWriter.MAX_LENGTH];
        int len = new TcpSegmentWriter().from(SRC_HI, SRC_LO, 51234).to(DST_HI, DST_LO, 443).seq(0x9a3f12c7).ack(0)
                .flags(TcpFlyweight.SYN).window(64800).mss(1440).wscale(7).sackPermitted(true)
                .timestamps(0x6b2c1f3a, 0).write(MemorySegment.ofArray(out), 0);
        byte[] expected = syn6();
        expected[1] = 0; // the writer's flow label and traffic class are 0
        expected[2] = 0;
        expected[3] = 0;
        assertEquals(expected.length, len);
        assertArrayEquals(expected, Arrays.copyOf(out, len), HexFormat.of().formatHex(out, 0, len));
    }

    @Test
    void shouldRoundTripRandomSegmentsThroughWriterAndParser() {
        Random r = new Random(6);
        TcpSegmentWriter writer = new TcpSegmentWriter();
        byte[] buf = new byte[TcpSegmentWriter.MAX_LENGTH + 16];
        for (int i = 0; i < 2000; i++) {
            long sHi = r.nextLong();
            long sLo = r.nextLong();
            long dHi = r.nextLong();
            long dLo = r.nextLong();
            int sp = r.nextInt(65536);
            int dp = r.nextInt(65536);
            int seq = r.nextInt();
            int ack = r.nextInt();
            int flags = r.nextInt(256);
            int window = r.nextInt(65536);
            int mss = r.nextBoolean() ? r.nextInt(65536) : -1;
            int ws = r.nextBoolean() ? r.nextInt(15) : -1;
            boolean sack = r.nextBoolean();
            boolean ts = r.nextBoolean();
            int tsVal = r.nextInt();
            int tsEcr = r.nextInt();
            int off = r.nextInt(16);
            MemorySegment seg = MemorySegment.ofArray(buf);
            int len = writer.from(sHi, sLo, sp).to(dHi, dLo, dp).seq(seq).ack(ack).flags(flags).window(window)
                    .mss(mss).wscale(ws).sackPermitted(sack).timestamps(ts, tsVal, tsEcr).write(seg, off);
            assertEquals(Reject.NONE, parser.parse6(seg, off, len, true), "round " + i);
            assertEquals(sHi, parser.srcHi());
            assertEquals(sLo, parser.srcLo());
            assertEquals(dHi, parser.dstHi());
            assertEquals(dLo, parser.dstLo());
            assertEquals(sp, parser.srcPort());
            assertEquals(dp, parser.dstPort());
            assertEquals(seq, parser.seq());
            assertEquals(ack, parser.ack());
            assertEquals(flags, parser.flags());
            assertEquals(window, parser.window());
            assertEquals(mss, parser.options().mss());
            assertEquals(ws, parser.options().wscale());
            assertEquals(sack, parser.options().sackPermitted());
            assertEquals(ts, parser.options().hasTimestamps());
            if (ts) {
                assertEquals(tsVal, parser.options().tsVal());
                assertEquals(tsEcr, parser.options().tsEcr());
            }
            assertEquals(0, parser.payloadLength());
        }
    }

    /** One crafted packet per reason the IPv6 parser gives. */
    static byte[] caseFor(Reject reason) {
        byte[] p = syn6();
        switch (reason) {
            case NONE -> {
            }
            case NOT_IPV6 -> p[0] = 0x45;
            case TRUNCATED_IP -> p = Arrays.copyOf(p, 39);
            case BAD_IPV6_LENGTH -> p[5] = 41; // one byte more than there is
            case IP_FRAGMENT -> p = withExtension(p, 44, new byte[] {0, 0, 0, 1, 0, 0, 0, 7});
            case BAD_IPV6_EXTENSION -> p = withExtension(p, 43, new byte[] {0, 0, 0, 1, 0, 0, 0, 0}); // segments left
            case NOT_TCP -> p[6] = 17;
            case TRUNCATED_TCP -> {
                p = Arrays.copyOf(p, 40 + 19);
                p[5] = 19;
            }
            case BAD_DATA_OFFSET -> {
                p[TCP + 12] = 0x40;
                fixChecksum(p, TCP);
            }
            case BAD_TCP_OPTION -> {
                p[TCP + 20 + 18] = 0; // window scale option length 0
                fixChecksum(p, TCP);
            }
            case BAD_TCP_CHECKSUM -> p[TCP + 4] ^= 1;
            default -> throw new IllegalArgumentException(reason + " is not an IPv6 parser reason");
        }
        return p;
    }

    @ParameterizedTest
    @EnumSource(value = Reject.class, names = {"NONE", "NOT_IPV6", "TRUNCATED_IP", "BAD_IPV6_LENGTH", "IP_FRAGMENT",
        "BAD_IPV6_EXTENSION", "NOT_TCP", "TRUNCATED_TCP", "BAD_DATA_OFFSET", "BAD_TCP_OPTION", "BAD_TCP_CHECKSUM"})
    void shouldProduceEveryIpv6RejectReasonFromACraftedPacket(Reject reason) {
        assertEquals(reason, parse(caseFor(reason)));
    }

    @Test
    void shouldRejectAJumbogramPayloadLengthOfZero() {
        byte[] p = syn6();
        p[4] = 0;
        p[5] = 0;
        assertEquals(Reject.BAD_IPV6_LENGTH, parse(p));
    }

    @Test
    void shouldIgnoreTrailingBytesBeyondThePayloadLength() {
        byte[] p = Arrays.copyOf(syn6(), 80 + 6);
        assertEquals(Reject.NONE, parse(p));
        assertEquals(0, parser.payloadLength());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 60})
    void shouldSkipHopByHopAndDestinationOptionsHeaders(int nextHeader) {
        // PadN filling 6 bytes: type 1, length 4, four zero bytes.
        byte[] p = withExtension(syn6(), nextHeader, new byte[] {0, 0, 1, 4, 0, 0, 0, 0});
        assertEquals(Reject.NONE, parse(p));
        assertEquals(1, parser.extensionHeaders());
        assertEquals(443, parser.dstPort());
        assertEquals(1440, parser.options().mss());
        assertEquals(DST_LO, parser.dstLo());
    }

    @Test
    void shouldProcessAnAtomicFragmentAsTheUnfragmentedPacket() {
        // RFC 6946: a fragment header with offset 0 and M = 0 (identification 7) is no fragment at all.
        byte[] p = withExtension(syn6(), 44, new byte[] {0, 0, 0, 0, 0, 0, 0, 7});
        assertEquals(Reject.NONE, parse(p));
        assertEquals(1, parser.extensionHeaders());
        assertEquals(443, parser.dstPort());
        assertEquals(1440, parser.options().mss());
        // The two reserved bits are ignored on receipt (RFC 8200, 4.5).
        assertEquals(Reject.NONE, parse(withExtension(syn6(), 44, new byte[] {0, 0, 0, 6, 0, 0, 0, 7})));
        // Behind a destination options header too.
        assertEquals(Reject.NONE, parse(withExtension(p, 60, new byte[] {0, 0, 1, 4, 0, 0, 0, 0})));
    }

    @Test
    void shouldStillRejectRealFragments() {
        assertEquals(Reject.IP_FRAGMENT, parse(withExtension(syn6(), 44, new byte[] {0, 0, 0, 1, 0, 0, 0, 7})),
                "first fragment (M = 1)");
        assertEquals(Reject.IP_FRAGMENT, parse(withExtension(syn6(), 44, new byte[] {0, 0, 0, 8, 0, 0, 0, 7})),
                "last fragment (offset 1, M = 0)");
        assertEquals(Reject.IP_FRAGMENT, parse(withExtension(syn6(), 44, new byte[] {0, 0, (byte) 0xff, (byte) 0xf8,
            0, 0, 0, 7})), "largest offset");
    }

    @Test
    void shouldSkipARoutingHeaderWithNoSegmentsLeftAndAChainOfHeaders() {
        byte[] p = withExtension(syn6(), 43, new byte[] {0, 0, 0, 0, 0, 0, 0, 0});
        p = withExtension(p, 60, new byte[] {0, 0, 1, 4, 0, 0, 0, 0});
        p = withExtension(p, 0, new byte[] {0, 0, 1, 4, 0, 0, 0, 0});
        assertEquals(Reject.NONE, parse(p));
        assertEquals(3, parser.extensionHeaders());
    }

    @Test
    void shouldAcceptHopByHopOnlyAsTheFirstHeader() {
        byte[] pad = {0, 0, 1, 4, 0, 0, 0, 0};
        // withExtension puts the new header first: this chain is hop-by-hop, destination options, TCP.
        byte[] first = withExtension(withExtension(syn6(), 60, pad), 0, pad);
        assertEquals(Reject.NONE, parse(first));
        assertEquals(2, parser.extensionHeaders());
        // Destination options, hop-by-hop, TCP: RFC 8200 allows hop-by-hop only right after the fixed header.
        byte[] second = withExtension(withExtension(syn6(), 0, pad), 60, pad);
        assertEquals(Reject.BAD_IPV6_EXTENSION, parse(second));
    }

    @Test
    void shouldRejectTooLongAChainAndAnExtensionHeaderRunningPastThePayload() {
        byte[] p = syn6();
        for (int i = 0; i < TcpSegment.MAX_EXTENSION_HEADERS + 1; i++) {
            p = withExtension(p, 60, new byte[] {0, 0, 1, 4, 0, 0, 0, 0});
        }
        assertEquals(Reject.BAD_IPV6_EXTENSION, parse(p));
        byte[] q = withExtension(syn6(), 60, new byte[] {0, 0, 1, 4, 0, 0, 0, 0});
        q[41] = 100; // header length 808 bytes
        assertEquals(Reject.BAD_IPV6_LENGTH, parse(q));
        byte[] r = Arrays.copyOf(syn6(), 44);
        r[4] = 0;
        r[5] = 4;
        r[6] = 60;
        assertEquals(Reject.BAD_IPV6_LENGTH, parse(r), "4 bytes cannot hold an extension header");
    }

    @ParameterizedTest
    @ValueSource(ints = {50, 51, 58, 59})
    void shouldRejectEspAhIcmpAndNoNextHeaderAsNotTcp(int nextHeader) {
        byte[] p = syn6();
        p[6] = (byte) nextHeader;
        assertEquals(Reject.NOT_TCP, parse(p));
    }

    @Test
    void shouldSkipChecksumVerificationOnlyWhenAsked() {
        byte[] p = caseFor(Reject.BAD_TCP_CHECKSUM);
        assertEquals(Reject.NONE, parser.parse6(MemorySegment.ofArray(p), 0, p.length, false));
    }

    @Test
    void shouldCoverTheChecksumOfDataAndOddLengths() {
        byte[] p = Arrays.copyOf(syn6(), 80 + 3);
        p[80] = 'a';
        p[81] = 'b';
        p[82] = 'c';
        p[5] = 43;
        fixChecksum(p, TCP);
        assertEquals(Reject.NONE, parse(p));
        assertEquals(3, parser.payloadLength());
        assertEquals(80, parser.payloadOffset());
        p[82] = 'd';
        assertEquals(Reject.BAD_TCP_CHECKSUM, parse(p));
    }

    @Test
    void shouldNeverThrowOnRandomBytes() {
        Random r = new Random(61);
        for (int i = 0; i < 20_000; i++) {
            byte[] p = r.nextBoolean() ? syn6() : new byte[r.nextInt(120)];
            for (int k = r.nextInt(6); k > 0 && p.length > 0; k--) {
                p[r.nextInt(p.length)] = (byte) r.nextInt(256);
            }
            if (p.length > 0 && r.nextBoolean()) {
                p[0] = (byte) (0x60 | (p[0] & 0x0F));
            }
            parser.parse6(MemorySegment.ofArray(p), 0, r.nextInt(p.length + 2), r.nextBoolean());
        }
    }

    /** Inserts an extension header right after the fixed header; its next header is the old one. */
    static byte[] withExtension(byte[] packet, int type, byte[] header) {
        byte[] h = header.clone();
        h[0] = packet[6];
        byte[] out = new byte[packet.length + h.length];
        System.arraycopy(packet, 0, out, 0, 40);
        System.arraycopy(h, 0, out, 40, h.length);
        System.arraycopy(packet, 40, out, 40 + h.length, packet.length - 40);
        out[6] = (byte) type;
        int payload = ((packet[4] & 0xFF) << 8 | (packet[5] & 0xFF)) + h.length;
        out[4] = (byte) (payload >>> 8);
        out[5] = (byte) payload;
        return out;
    }

    /** Recomputes the TCP checksum (naive, one 16-bit word at a time) of the segment at {@code tcp}. */
    static void fixChecksum(byte[] p, int tcp) {
        p[tcp + 16] = 0;
        p[tcp + 17] = 0;
        int length = p.length - tcp;
        long sum = 0;
        for (int i = 8; i < 40; i += 2) {
            sum += Frames.u16(p, i);
        }
        sum += length + 6;
        for (int i = tcp; i < p.length; i += 2) {
            sum += i + 1 < p.length ? Frames.u16(p, i) : (p[i] & 0xFF) << 8;
        }
        while (sum >>> 16 != 0) {
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        Frames.put16(p, tcp + 16, (int) (~sum & 0xFFFF));
    }
}
