package io.synproxy.packet;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.MemorySegment;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TcpOptionsTest {

    private final TcpOptions options = new TcpOptions();

    /** Parses {@code hex} from a segment holding exactly those bytes, so any over-read throws. */
    private Reject parse(String hex) {
        final byte[] bytes = Frames.HEX.parseHex(hex);
        return options.parse(MemorySegment.ofArray(bytes), 0, bytes.length);
    }

    @Test
    void shouldParseLinuxSynOptions() {
        assertEquals(Reject.NONE, parse("020405b4" + "0402080a" + "6b2c1f3a" + "00000000" + "01030307"));
        assertEquals(1460, options.mss());
        assertTrue(options.sackPermitted());
        assertTrue(options.hasTimestamps());
        assertEquals(0x6b2c1f3a, options.tsVal());
        assertEquals(0, options.tsEcr());
        assertEquals(7, options.wscale());
    }

    @Test
    void shouldParseLinuxSynAckOptionsWithoutTimestamps() {
        assertEquals(Reject.NONE, parse("020405b4" + "01010402" + "01030307"));
        assertEquals(1460, options.mss());
        assertTrue(options.sackPermitted());
        assertFalse(options.hasTimestamps());
        assertEquals(7, options.wscale());
    }

    @Test
    void shouldReportAbsentOptionsAsMinusOneAndFalse() {
        assertEquals(Reject.NONE, parse(""));
        assertAbsent();
        assertEquals(Reject.NONE, parse("01010101"));
        assertAbsent();
    }

    @Test
    void shouldStopAtEndOfOptionList() {
        // MSS, EOL, then garbage that would be BAD_TCP_OPTION if parsed
        assertEquals(Reject.NONE, parse("020405b4" + "00" + "0300ff"));
        assertEquals(1460, options.mss());
        assertEquals(-1, options.wscale());
    }

    @Test
    void shouldSkipUnknownKindsByTheirLength() {
        // kind 30 (MPTCP) length 6, SACK blocks kind 5 length 10, kind 254 length 2, then WS 14
        assertEquals(Reject.NONE, parse("1e06aabbccdd" + "050a0000000100000002" + "fe02" + "03030e"));
        assertEquals(14, options.wscale());
        assertEquals(-1, options.mss());
    }

    @Test
    void shouldReturnRawValuesWithoutClamping() {
        assertEquals(Reject.NONE, parse("0204ffff" + "0303ff" + "080affffffff80000000"));
        assertEquals(0xFFFF, options.mss());
        assertEquals(255, options.wscale());
        assertEquals(-1, options.tsVal());
        assertEquals(Integer.MIN_VALUE, options.tsEcr());
    }

    @Test
    void shouldLetALaterDuplicateWin() {
        assertEquals(Reject.NONE, parse("02040200" + "020405b4"));
        assertEquals(1460, options.mss());
    }

    @Test
    void shouldResetBetweenParses() {
        assertEquals(Reject.NONE, parse("020405b4" + "0402080a" + "6b2c1f3a" + "00000000" + "01030307"));
        assertEquals(Reject.NONE, parse("0101"));
        assertAbsent();
    }

    @Test
    void shouldBeClearedAfterARejection() {
        assertEquals(Reject.BAD_TCP_OPTION, parse("020405b4" + "0402" + "0300"));
        assertAbsent();
    }

    @Test
    void shouldClearOnDemand() {
        assertEquals(Reject.NONE, parse("020405b4" + "0402080a" + "6b2c1f3a" + "00000001" + "01030307"));
        options.clear();
        assertAbsent();
        assertEquals(0, options.tsVal());
        assertEquals(0, options.tsEcr());
    }

    @Test
    void shouldOnlyReadWithinTheGivenLength() {
        final byte[] bytes = Frames.HEX.parseHex("01" + "020405b4" + "01");
        // the range [1, 3) holds "0204": an MSS running past the end
        assertEquals(Reject.BAD_TCP_OPTION, options.parse(MemorySegment.ofArray(bytes), 1, 2));
        assertEquals(Reject.NONE, options.parse(MemorySegment.ofArray(bytes), 1, 4));
        assertEquals(1460, options.mss());
    }

    static Stream<Arguments> malformedOptions() {
        return Stream.of(
            Arguments.of("length 0", "0300" + "07"),
            Arguments.of("length 0 on unknown kind", "1e00aabb"),
            Arguments.of("length 1", "0401"),
            Arguments.of("length 1 on unknown kind", "1e01aabb"),
            Arguments.of("past the end", "080a6b2c1f3a0000"),
            Arguments.of("unknown kind past the end", "01" + "1e08aabbcc"),
            Arguments.of("missing length byte", "020405b4" + "02"),
            Arguments.of("missing length byte on unknown kind", "0101" + "1e"),
            Arguments.of("MSS length 3", "020305" + "01"),
            Arguments.of("MSS length 5", "020505b400"),
            Arguments.of("window scale length 2", "0302"),
            Arguments.of("window scale length 4", "03040700"),
            Arguments.of("SACK permitted length 3", "040300"),
            Arguments.of("timestamps length 8", "0808aabbccdd0000"),
            Arguments.of("timestamps length 12", "080c" + "aabbccdd" + "00000000" + "0000"),
            Arguments.of("bad option after good ones", "020405b4" + "0402" + "0101" + "0300"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedOptions")
    void shouldRejectMalformedOption(String description, String hex) {
        assertEquals(Reject.BAD_TCP_OPTION, parse(hex), description);
        assertAbsent();
    }

    private void assertAbsent() {
        assertEquals(-1, options.mss());
        assertEquals(-1, options.wscale());
        assertFalse(options.sackPermitted());
        assertFalse(options.hasTimestamps());
    }
}
