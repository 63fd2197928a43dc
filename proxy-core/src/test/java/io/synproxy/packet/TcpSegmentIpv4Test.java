package io.synproxy.packet;

import io.synproxy.testsupport.TcpPacket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static io.synproxy.packet.Frames.ETH;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class TcpSegmentIpv4Test {

    private static final int FUZZ_ITERATIONS = 100_000;
    private static final int IP = ETH;
    private static final int TCP = ETH + 20;

    private final TcpSegment parser = new TcpSegment();

    /** A crafted frame, how many bytes of it count as captured, and whether the TCP checksum is verified. */
    record Case(byte[] frame, int captured, boolean verifyTcpChecksum) {
        Case(byte[] frame) {
            this(frame, frame.length, true);
        }
    }

    private Reject parseFrame(Case c) {
        return Frames.parseFrame(parser, MemorySegment.ofArray(c.frame()), 0, c.captured(), c.verifyTcpChecksum());
    }

    /** One crafted input per reason; the switch is exhaustive, so a new reason without a case does not compile. */
    static Case caseFor(Reject reason) {
        final byte[] f = Frames.linuxSyn();
        return switch (reason) {
            case NONE -> new Case(f);
            case NOT_IPV4 -> {
                f[IP] = 0x65;
                yield new Case(f);
            }
            case TRUNCATED_IP -> new Case(f, ETH + 19, true);
            case BAD_IHL -> {
                f[IP] = 0x44;
                yield new Case(TcpPacket.fixIpv4HeaderChecksum(f, IP));
            }
            case BAD_IP_LENGTH -> {
                Frames.put16(f, IP + 2, 61); // one byte more than captured
                yield new Case(TcpPacket.fixIpv4HeaderChecksum(f, IP));
            }
            case IP_FRAGMENT -> {
                Frames.put16(f, IP + 6, Ipv4Flyweight.FLAG_MF);
                yield new Case(TcpPacket.fixIpv4HeaderChecksum(f, IP));
            }
            case BAD_IP_CHECKSUM -> {
                f[IP + 8] = 63; // TTL changed, checksum not updated
                yield new Case(f);
            }
            case NOT_TCP -> {
                f[IP + 9] = 17;
                yield new Case(TcpPacket.fixIpv4HeaderChecksum(f, IP));
            }
            case TRUNCATED_TCP -> {
                Frames.put16(f, IP + 2, 20 + 19);
                yield new Case(TcpPacket.fixIpv4HeaderChecksum(f, IP));
            }
            case BAD_DATA_OFFSET -> {
                f[TCP + 12] = 0x40;
                yield new Case(TcpPacket.fixChecksums(f, IP));
            }
            case BAD_TCP_OPTION -> {
                f[TCP + 20 + 18] = 0; // window scale option length 0
                yield new Case(TcpPacket.fixChecksums(f, IP));
            }
            case BAD_TCP_CHECKSUM -> {
                f[TCP + 20 + 8] ^= 0x01; // TSval changed, checksum not updated
                yield new Case(f);
            }
            // Reasons only the IPv6 parser or the front end give: see TcpSegmentIpv6Test.
            case NOT_IPV6, BAD_IPV6_LENGTH, BAD_IPV6_EXTENSION, NOT_OUR_PORT ->
                throw new IllegalArgumentException(reason + " is not an IPv4 parser reason");
        };
    }

    @ParameterizedTest
    @EnumSource(value = Reject.class, mode = EnumSource.Mode.EXCLUDE,
        names = {"NOT_IPV6", "BAD_IPV6_LENGTH", "BAD_IPV6_EXTENSION", "NOT_OUR_PORT"})
    void shouldProduceEveryRejectReasonFromACraftedFrame(Reject reason) {
        assertEquals(reason, parseFrame(caseFor(reason)));
    }

    @ParameterizedTest
    @EnumSource(Reject.class)
    void shouldHaveASnakeCaseLabelForEveryReason(Reject reason) {
        final String expected = reason == Reject.NONE ? "ok" : reason.name().toLowerCase(Locale.ROOT);
        assertEquals(expected, reason.label());
    }

    @Test
    void shouldBuildTheHandWrittenVectorWithTheTestPacketBuilder() {
        assertArrayEquals(Frames.linuxSyn(), Frames.linuxSynWithPayload(new byte[0]));
    }

    @Test
    void shouldParseLinuxSynFrame() {
        final byte[] frame = Frames.linuxSyn();
        assertEquals(Reject.NONE, Frames.parseFrame(parser, Frames.seg(frame), 0, frame.length, true));
        assertEquals(Frames.SRC, parser.src());
        assertEquals(Frames.DST, parser.dst());
        assertEquals(Frames.SRC_PORT, parser.srcPort());
        assertEquals(Frames.DST_PORT, parser.dstPort());
        assertEquals(Frames.SEQ, parser.seq());
        assertEquals(0, parser.ack());
        assertEquals(TcpFlyweight.SYN, parser.flags());
        assertEquals(64240, parser.window());
        assertEquals(frame.length, parser.payloadOffset());
        assertEquals(0, parser.payloadLength());

        final Ipv4Flyweight ip = parser.ip();
        assertEquals(ETH, ip.offset());
        assertEquals(4, ip.version());
        assertEquals(20, ip.headerLength());
        assertEquals(60, ip.totalLength());
        assertEquals(0x1c46, ip.id());
        assertTrue(ip.dontFragment());
        assertEquals(64, ip.ttl());
        assertEquals(Frames.IP_CHECKSUM, ip.checksum());

        final TcpFlyweight tcp = parser.tcp();
        assertEquals(TCP, tcp.offset());
        assertEquals(40, tcp.headerLength());
        assertEquals(Frames.TCP_CHECKSUM, tcp.checksum());
        assertEquals(0, tcp.urgentPointer());

        final TcpOptions options = parser.options();
        assertEquals(1460, options.mss());
        assertTrue(options.sackPermitted());
        assertTrue(options.hasTimestamps());
        assertEquals(Frames.TS_VAL, options.tsVal());
        assertEquals(0, options.tsEcr());
        assertEquals(7, options.wscale());
    }

    @Test
    void shouldParseAnIpPacketWithoutEthernet() {
        final byte[] frame = Frames.linuxSyn();
        assertEquals(Reject.NONE, parser.parse4(Frames.seg(frame), ETH, frame.length - ETH, true));
        assertEquals(Frames.SEQ, parser.seq());
        assertEquals(frame.length, parser.payloadOffset());
    }

    @Test
    void shouldParseAFrameInsideANativeRingSlot() {
        final byte[] frame = Frames.linuxSyn();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment ring = arena.allocate(4096);
            final long slot = 2048 + 66; // tp_mac-like offset, deliberately unaligned
            MemorySegment.copy(Frames.seg(frame), 0, ring, slot, frame.length);
            assertEquals(Reject.NONE, Frames.parseFrame(parser, ring, slot, frame.length, true));
            assertEquals(Frames.DST_PORT, parser.dstPort());
            assertEquals(slot + frame.length, parser.payloadOffset());
        }
    }

    @Test
    void shouldExposeThePayload() {
        final byte[] payload = "GET / HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);
        final byte[] frame = Frames.linuxSynWithPayload(payload);
        assertEquals(Reject.NONE, Frames.parseFrame(parser, Frames.seg(frame), 0, frame.length, true));
        assertEquals(Frames.linuxSyn().length, parser.payloadOffset());
        assertEquals(payload.length, parser.payloadLength());
    }

    @Test
    void shouldIgnoreEthernetPaddingAfterTheIpTotalLength() {
        final byte[] syn = Frames.linuxSyn();
        final byte[] padded = Arrays.copyOf(syn, syn.length + 6);
        Arrays.fill(padded, syn.length, padded.length, (byte) 0xEE);
        assertEquals(Reject.NONE, Frames.parseFrame(parser, Frames.seg(padded), 0, padded.length, true));
        assertEquals(0, parser.payloadLength());
        assertEquals(syn.length, parser.payloadOffset());
    }

    @Test
    void shouldSkipTheTcpChecksumOnlyWhenAsked() {
        final Case bad = caseFor(Reject.BAD_TCP_CHECKSUM);
        assertEquals(Reject.BAD_TCP_CHECKSUM, parseFrame(bad));
        assertEquals(Reject.NONE, parseFrame(new Case(bad.frame(), bad.captured(), false)));
        assertEquals(Frames.TS_VAL ^ 0x0100_0000, parser.options().tsVal());
    }

    @Test
    void shouldAlwaysVerifyTheIpChecksum() {
        final Case bad = caseFor(Reject.BAD_IP_CHECKSUM);
        assertEquals(Reject.BAD_IP_CHECKSUM, parseFrame(new Case(bad.frame(), bad.captured(), false)));
    }

    @Test
    void shouldCheckTheTcpChecksumBeforeTheOptions() {
        final byte[] f = caseFor(Reject.BAD_TCP_OPTION).frame();
        f[TCP + 20 + 8] ^= 0x01;
        assertEquals(Reject.BAD_TCP_CHECKSUM, parseFrame(new Case(f)));
        assertEquals(Reject.BAD_TCP_OPTION, parseFrame(new Case(f, f.length, false)));
    }

    static Stream<Arguments> variantsOfEachReason() {
        return Stream.of(
            Arguments.of("IP version 6", Reject.NOT_IPV4, edit(f -> f[IP] = 0x65)),
            Arguments.of("IHL 0", Reject.BAD_IHL, edit(f -> f[IP] = 0x40)),
            Arguments.of("IHL beyond captured", Reject.TRUNCATED_IP, cut(edit(f -> f[IP] = 0x4F), ETH + 59)),
            Arguments.of("total length below header", Reject.BAD_IP_LENGTH,
                editIp(f -> Frames.put16(f, IP + 2, 19))),
            Arguments.of("total length above captured", Reject.BAD_IP_LENGTH, cut(Frames.linuxSyn(), 73)),
            Arguments.of("fragment offset", Reject.IP_FRAGMENT, editIp(f -> Frames.put16(f, IP + 6, 0x4001))),
            Arguments.of("last fragment", Reject.IP_FRAGMENT, editIp(f -> Frames.put16(f, IP + 6, 0x00B9))),
            Arguments.of("more fragments with DF", Reject.IP_FRAGMENT, editIp(f -> Frames.put16(f, IP + 6, 0x6000))),
            Arguments.of("UDP", Reject.NOT_TCP, editIp(f -> f[IP + 9] = 17)),
            Arguments.of("IP header only", Reject.TRUNCATED_TCP, editIp(f -> Frames.put16(f, IP + 2, 20))),
            Arguments.of("data offset 0", Reject.BAD_DATA_OFFSET, editAll(f -> f[TCP + 12] = 0x00)),
            Arguments.of("data offset beyond segment", Reject.BAD_DATA_OFFSET, editAll(f -> f[TCP + 12] = (byte) 0xB0)),
            Arguments.of("data offset 15", Reject.BAD_DATA_OFFSET, editAll(f -> f[TCP + 12] = (byte) 0xF0)),
            Arguments.of("option length 1", Reject.BAD_TCP_OPTION, editAll(f -> f[TCP + 20 + 1] = 1)),
            Arguments.of("option past the end", Reject.BAD_TCP_OPTION, editAll(f -> f[TCP + 20 + 18] = 4)),
            Arguments.of("MSS length 5", Reject.BAD_TCP_OPTION, editAll(f -> f[TCP + 20 + 1] = 5)),
            Arguments.of("missing length byte", Reject.BAD_TCP_OPTION, editAll(f -> {
                f[TCP + 20 + 16] = 1;
                f[TCP + 20 + 17] = 1;
                f[TCP + 20 + 18] = 1;
                f[TCP + 20 + 19] = 2; // a lone MSS kind in the last byte
            })),
            Arguments.of("zeroed TCP checksum", Reject.BAD_TCP_CHECKSUM, edit(f -> Frames.put16(f, TCP + 16, 0))));
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("variantsOfEachReason")
    void shouldRejectEachVariant(String description, Reject expected, Case c) {
        assertEquals(expected, parseFrame(c), description);
    }

    @Test
    void shouldRejectFragment() {
        assertEquals(Reject.IP_FRAGMENT, parseFrame(caseFor(Reject.IP_FRAGMENT)));
    }

    @Test
    void shouldRejectEveryTruncatedPrefixOneByteAtATime() {
        final byte[] frame = Frames.linuxSyn();
        for (int n = 0; n < frame.length; n++) {
            // exact-size slice: any read past the captured bytes would throw
            final MemorySegment exact = Frames.seg(frame).asSlice(0, n);
            final Reject r = Frames.parseFrame(parser, exact, 0, n, true);
            assertNotEquals(Reject.NONE, r, "prefix " + n);
            assertEquals(expectedForPrefix(n), r, "prefix " + n);
            assertEquals(r, Frames.parseFrame(parser, Frames.seg(frame), 0, n, true), "prefix " + n + " in full buffer");
        }
        for (int n = 0; n < frame.length - ETH; n++) {
            final MemorySegment exact = Frames.seg(frame).asSlice(ETH, n);
            assertNotEquals(Reject.NONE, parser.parse4(exact, 0, n, true), "IP prefix " + n);
        }
    }

    private static Reject expectedForPrefix(int n) {
        return n < ETH + 20 ? Reject.TRUNCATED_IP : Reject.BAD_IP_LENGTH;
    }

    @Test
    void shouldClampCapturedLengthToTheSegment() {
        final byte[] frame = Frames.linuxSyn();
        final MemorySegment seg = Frames.seg(frame);
        assertEquals(Reject.NONE, Frames.parseFrame(parser, seg, 0, Integer.MAX_VALUE, true));
        assertEquals(Reject.BAD_IP_LENGTH, Frames.parseFrame(parser, seg.asSlice(0, 70), 0, 74, true));
        assertEquals(Reject.TRUNCATED_IP, parser.parse4(seg, ETH, -1, true));
        assertEquals(Reject.TRUNCATED_IP, parser.parse4(seg, frame.length, 60, true));
        assertEquals(Reject.TRUNCATED_IP, parser.parse4(seg, frame.length + 10, 60, true));
        assertEquals(Reject.TRUNCATED_IP, parser.parse4(seg, -5, 60, true));
        assertEquals(Reject.TRUNCATED_IP, parser.parse4(seg, 500, 60, true));
    }

    @Test
    void shouldBeReusableAcrossFrames() {
        final byte[] payload = new byte[] {1, 2, 3};
        final byte[] withPayload = Frames.linuxSynWithPayload(payload);
        assertEquals(Reject.NONE, Frames.parseFrame(parser, Frames.seg(withPayload), 0, withPayload.length, true));
        final TcpFlyweight tcp = parser.tcp();
        assertEquals(3, parser.payloadLength());
        assertEquals(Reject.BAD_TCP_OPTION, parseFrame(caseFor(Reject.BAD_TCP_OPTION)));
        assertEquals(Reject.NONE, parseFrame(caseFor(Reject.NONE)));
        assertSame(tcp, parser.tcp());
        assertEquals(0, parser.payloadLength());
        assertEquals(7, parser.options().wscale());
    }

    @Test
    void shouldNeverThrowOnRandomBytes() {
        final long seed = seed();
        final SplittableRandom random = new SplittableRandom(seed);
        final EnumSet<Reject> seen = EnumSet.noneOf(Reject.class);
        int i = 0;
        try {
            for (; i < FUZZ_ITERATIONS; i++) {
                final byte[] b = new byte[random.nextInt(0, 120)];
                random.nextBytes(b);
                if (b.length > ETH && random.nextBoolean()) {
                    // steer half of them past the first checks
                    b[12] = 0x08;
                    b[13] = 0x00;
                    b[ETH] = (byte) (0x40 | (b[ETH] & 0x0F));
                }
                seen.add(parseAndCheck(b, random.nextInt(-2, b.length + 3), random.nextBoolean()));
            }
        } catch (RuntimeException | AssertionError e) {
            fail("random bytes, seed " + seed + " (-Dsynproxy.fuzz.seed=" + seed + "), iteration " + i, e);
        }
        assertTrue(seen.containsAll(Set.of(Reject.NOT_IPV4, Reject.TRUNCATED_IP,
            Reject.BAD_IHL, Reject.BAD_IP_LENGTH)), "seed " + seed + " saw " + seen);
    }

    @Test
    void shouldNeverThrowOnMutatedFrames() {
        final long seed = seed();
        final SplittableRandom random = new SplittableRandom(seed);
        final EnumSet<Reject> seen = EnumSet.noneOf(Reject.class);
        final byte[] syn = Frames.linuxSyn();
        final byte[] withPayload = Frames.linuxSynWithPayload(new byte[] {'h', 'e', 'l', 'l', 'o'});
        int i = 0;
        try {
            for (; i < FUZZ_ITERATIONS; i++) {
                final byte[] f = (random.nextBoolean() ? syn : withPayload).clone();
                final int mutations = random.nextInt(1, 5);
                for (int m = 0; m < mutations; m++) {
                    final int at = random.nextInt(f.length);
                    switch (random.nextInt(3)) {
                        case 0 -> f[at] = (byte) random.nextInt(256);
                        case 1 -> f[at] ^= (byte) (1 << random.nextInt(8));
                        default -> f[at] = (byte) (random.nextBoolean() ? 0 : 0xFF);
                    }
                }
                if (random.nextInt(4) != 0) {
                    TcpPacket.fixChecksums(f, IP);
                }
                final int captured = random.nextInt(8) == 0 ? random.nextInt(f.length + 1) : f.length;
                seen.add(parseAndCheck(f, captured, random.nextInt(8) != 0));
            }
        } catch (RuntimeException | AssertionError e) {
            fail("mutated frames, seed " + seed + " (-Dsynproxy.fuzz.seed=" + seed + "), iteration " + i, e);
        }
        assertTrue(seen.containsAll(Set.of(Reject.NONE, Reject.BAD_IP_CHECKSUM, Reject.BAD_TCP_CHECKSUM,
            Reject.BAD_TCP_OPTION, Reject.BAD_DATA_OFFSET)), "seed " + seed + " saw " + seen);
    }

    /** Parses {@code b[0, captured)} from an exact-size segment and checks what an accepted frame promises. */
    private Reject parseAndCheck(byte[] b, int captured, boolean verify) {
        final MemorySegment seg = MemorySegment.ofArray(b).asSlice(0, Math.max(0, Math.min(captured, b.length)));
        final Reject r = Frames.parseFrame(parser, seg, 0, captured, verify);
        if (r == Reject.NONE) {
            final int totalLength = parser.ip().totalLength();
            assertTrue(ETH + totalLength <= seg.byteSize());
            assertEquals(ETH + totalLength, parser.payloadOffset() + parser.payloadLength());
            assertTrue(parser.payloadLength() >= 0);
            assertTrue(parser.tcp().headerLength() >= 20);
            assertFalse(parser.ip().moreFragments());
            assertTrue(TcpPacket.ipv4HeaderChecksumValid(b, ETH));
            if (verify) {
                assertTrue(TcpPacket.checksumsValid(b, ETH));
            }
        }
        return r;
    }

    /** Fixes both checksums the way a sender would, but only where the (mutated) header fields stay in bounds. */
    private static long seed() {
        return Long.getLong("synproxy.fuzz.seed", System.nanoTime());
    }

    private interface Edit {
        void apply(byte[] frame);
    }

    private static Case edit(Edit e) {
        final byte[] f = Frames.linuxSyn();
        e.apply(f);
        return new Case(f);
    }

    private static Case editIp(Edit e) {
        final byte[] f = Frames.linuxSyn();
        e.apply(f);
        return new Case(TcpPacket.fixIpv4HeaderChecksum(f, IP));
    }

    private static Case editAll(Edit e) {
        final byte[] f = Frames.linuxSyn();
        e.apply(f);
        return new Case(TcpPacket.fixChecksums(f, IP));
    }

    private static Case cut(Case c, int captured) {
        return new Case(c.frame(), captured, c.verifyTcpChecksum());
    }

    private static Case cut(byte[] f, int captured) {
        return new Case(f, captured, true);
    }
}
