package io.synproxy.cookie;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.management.ManagementFactory;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SynCookieTest {

    private static final long PERIOD = 60_000;
    private static final long G = 28_000_000; // an arbitrary, realistic generation number

    // Client 192.168.1.5:54321 -> us 10.0.0.1:443; values chosen to have the sign bit set where it can be.
    private static final int SADDR = 0xc0a80105;
    private static final int DADDR = 0x0a000001;
    private static final int SPORT = 54321;
    private static final int DPORT = 443;
    private static final int CLIENT_ISN = 0xdeadbeef;

    // Client 2001:db8::5 -> us 2001:db8:1::1
    private static final long S_HI = 0x20010db800000000L;
    private static final long S_LO = 0x0000000000000005L;
    private static final long D_HI = 0x20010db800010000L;
    private static final long D_LO = 0x0000000000000001L;

    private final AtomicLong clock = new AtomicLong(G * PERIOD + 12_345);
    private final SynCookie cookie = cookieWith(KeyRingTest.secret(32, 7));

    private SynCookie cookieWith(byte[] secret) {
        return new SynCookie(new KeyRing(secret, PERIOD, clock::get));
    }

    private int mint(int mssIdx, int wscaleIdx, boolean sack) {
        return cookie.encode(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN, mssIdx, wscaleIdx, sack);
    }

    private int check(int isn) {
        return cookie.verify(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN, isn);
    }

    private int mint6(int mssIdx, int wscaleIdx, boolean sack) {
        return cookie.encode6(S_HI, S_LO, D_HI, D_LO, SPORT, DPORT, CLIENT_ISN, mssIdx, wscaleIdx, sack);
    }

    private int check6(int isn) {
        return verify6(cookie, S_HI, S_LO, D_HI, D_LO, SPORT, DPORT, CLIENT_ISN, isn);
    }

    /** The final ACK's check with the SYN's values, as {@link #check} has for IPv4 (no probe form). */
    static int verify6(SynCookie c, long sHi, long sLo, long dHi, long dLo, int sport, int dport, int clientIsn,
                       int isn) {
        return c.verifyAck6(sHi, sLo, dHi, dLo, sport, dport, clientIsn + 1, isn, false);
    }

    /** The key slot an ISN was minted under: bit 0 of the option bits. */
    private static int parity(int bits) {
        return bits & 1;
    }

    static Stream<Arguments> allOptionCombinations() {
        return IntStream.range(0, 8).boxed().flatMap(mss -> IntStream.range(0, 8).boxed().flatMap(ws ->
                Stream.of(Arguments.of(mss, ws, false), Arguments.of(mss, ws, true))));
    }

    // ---- round trip -------------------------------------------------------------------------------

    @ParameterizedTest(name = "mss {0}, wscale {1}, sack {2}")
    @MethodSource("allOptionCombinations")
    void shouldReturnTheEncodedOptionsForAValidIpv4Cookie(int mssIdx, int wscaleIdx, boolean sack) {
        int isn = mint(mssIdx, wscaleIdx, sack);
        int bits = check(isn);

        assertEquals(isn & SynCookie.OPTION_BITS, bits);
        assertEquals(mssIdx, SynCookie.mssIndexOf(bits));
        assertEquals(wscaleIdx, SynCookie.wscaleIndexOf(bits));
        assertEquals(sack, SynCookie.sackOf(bits));
        assertEquals((int) (G & 1), parity(bits));
    }

    @ParameterizedTest(name = "mss {0}, wscale {1}, sack {2}")
    @MethodSource("allOptionCombinations")
    void shouldReturnTheEncodedOptionsForAValidIpv6Cookie(int mssIdx, int wscaleIdx, boolean sack) {
        int isn = mint6(mssIdx, wscaleIdx, sack);
        int bits = check6(isn);

        assertEquals(isn & SynCookie.OPTION_BITS, bits);
        assertEquals(mssIdx, SynCookie.mssIndexOf(bits));
        assertEquals(wscaleIdx, SynCookie.wscaleIndexOf(bits));
        assertEquals(sack, SynCookie.sackOf(bits));
    }

    @Test
    void shouldCarrySixteenWindowScaleIndicesAbsentAndZeroToFourteen() {
        for (int ws = 0; ws < 16; ws++) {
            int bits = check(mint(7, ws, true));
            int w = ws;
            assertTrue(bits >= 0, () -> "wscale index " + w);
            assertEquals(ws, SynCookie.wscaleIndexOf(bits));
            assertEquals(7, SynCookie.mssIndexOf(bits));
            assertTrue(SynCookie.sackOf(bits));
            int bits6 = check6(mint6(7, ws, true));
            assertEquals(ws, SynCookie.wscaleIndexOf(bits6));
        }
    }

    @Test
    void shouldDecodeOptionsFromAWholeIsnAsWellAsFromItsLowByte() {
        int isn = mint(5, 3, true);
        assertEquals(5, SynCookie.mssIndexOf(isn));
        assertEquals(3, SynCookie.wscaleIndexOf(isn));
        assertTrue(SynCookie.sackOf(isn));
        assertEquals(parity(isn & SynCookie.OPTION_BITS), parity(isn));
    }

    @Test
    void shouldLayOutTheOptionBitsAsDocumented() {
        clock.set((G + (G & 1)) * PERIOD); // an even generation: parity 0
        int isn = mint(0b101, 0b1011, true);
        assertEquals(0b1011_101_1_0, isn & SynCookie.OPTION_BITS);

        clock.addAndGet(PERIOD); // odd: parity 1
        isn = mint(0b010, 0b0110, false);
        assertEquals(0b0110_010_0_1, isn & SynCookie.OPTION_BITS);
    }

    @Test
    void shouldRoundTripRandomTuples() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        for (int i = 0; i < 20_000; i++) {
            int s = rnd.nextInt();
            int d = rnd.nextInt();
            int sp = rnd.nextInt(1 << 16);
            int dp = rnd.nextInt(1 << 16);
            int cisn = rnd.nextInt();
            int mss = rnd.nextInt(8);
            int ws = rnd.nextInt(8);
            boolean sack = rnd.nextBoolean();
            clock.addAndGet(rnd.nextInt((int) PERIOD / 100));

            int isn = cookie.encode(s, d, sp, dp, cisn, mss, ws, sack);
            int bits = cookie.verify(s, d, sp, dp, cisn, isn);
            int n = i;
            assertEquals(isn & SynCookie.OPTION_BITS, bits, () -> "seed " + seed + ", iteration " + n);
        }
    }

    @Test
    void shouldUseBothKeySlotsAcrossGenerations() {
        int first = mint(7, 7, true);
        clock.addAndGet(PERIOD);
        int second = mint(7, 7, true);

        assertNotEquals(parity(first), parity(second));
        assertEquals(first & SynCookie.OPTION_BITS, check(first));
        assertEquals(second & SynCookie.OPTION_BITS, check(second));
    }

    // ---- rejection --------------------------------------------------------------------------------

    @Test
    void shouldRejectAckWithAnyMacBitFlipped() {
        int isn = mint(4, 2, true);
        for (int bit = 9; bit < 32; bit++) {
            int b = bit;
            assertEquals(-1, check(isn ^ (1 << bit)), () -> "MAC bit " + b);
        }
    }

    @Test
    void shouldRejectAckWithTamperedOptionBits() {
        int isn = mint(1, 1, false);
        for (int bit = 0; bit < 9; bit++) {
            int b = bit;
            assertEquals(-1, check(isn ^ (1 << bit)), () -> "option bit " + b);
        }
    }

    @Test
    void shouldRejectAnyOtherOptionByteUnderTheSameMac() {
        int isn = mint(3, 4, true);
        for (int other = 0; other <= SynCookie.OPTION_BITS; other++) {
            if (other != (isn & SynCookie.OPTION_BITS)) {
                int o = other;
                assertEquals(-1, check((isn & ~SynCookie.OPTION_BITS) | other), () -> "option bits " + o);
            }
        }
    }

    @Test
    void shouldRejectAckFromADifferentTuple() {
        int isn = mint(6, 5, true);
        assertEquals(-1, cookie.verify(SADDR + 1, DADDR, SPORT, DPORT, CLIENT_ISN, isn), "saddr");
        assertEquals(-1, cookie.verify(SADDR, DADDR + 1, SPORT, DPORT, CLIENT_ISN, isn), "daddr");
        assertEquals(-1, cookie.verify(SADDR, DADDR, SPORT + 1, DPORT, CLIENT_ISN, isn), "sport");
        assertEquals(-1, cookie.verify(SADDR, DADDR, SPORT, DPORT + 1, CLIENT_ISN, isn), "dport");
        assertEquals(-1, cookie.verify(DADDR, SADDR, DPORT, SPORT, CLIENT_ISN, isn), "reversed direction");
        assertEquals(-1, cookie.verify(SADDR ^ 0x8000_0000, DADDR, SPORT, DPORT, CLIENT_ISN, isn), "saddr top bit");
    }

    @Test
    void shouldRejectAckWithADifferentClientIsn() {
        int isn = mint(6, 5, true);
        assertEquals(-1, cookie.verify(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN + 1, isn));
        assertEquals(-1, cookie.verify(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN ^ 0x8000_0000, isn));
    }

    @Test
    void shouldTreatPortsModulo65536() {
        int isn = mint(2, 2, false);
        assertEquals(isn & SynCookie.OPTION_BITS, cookie.verify(SADDR, DADDR, SPORT + 65_536, DPORT - 65_536, CLIENT_ISN, isn));
    }

    @Test
    void shouldRejectAckWithExpiredCookie() {
        int isn = mint(7, 1, true);
        clock.addAndGet(2 * PERIOD);
        assertEquals(-1, check(isn));
    }

    @Test
    void shouldRejectIpv6AckFromADifferentTupleOrWithTamperedBits() {
        int isn = mint6(5, 6, true);
        assertEquals(-1, verify6(cookie, S_HI ^ 1, S_LO, D_HI, D_LO, SPORT, DPORT, CLIENT_ISN, isn), "sHi");
        assertEquals(-1, verify6(cookie, S_HI, S_LO ^ 1, D_HI, D_LO, SPORT, DPORT, CLIENT_ISN, isn), "sLo");
        assertEquals(-1, verify6(cookie, S_HI, S_LO, D_HI ^ 1, D_LO, SPORT, DPORT, CLIENT_ISN, isn), "dHi");
        assertEquals(-1, verify6(cookie, S_HI, S_LO, D_HI, D_LO ^ 1, SPORT, DPORT, CLIENT_ISN, isn), "dLo");
        assertEquals(-1, verify6(cookie, S_HI, S_LO, D_HI, D_LO, SPORT + 1, DPORT, CLIENT_ISN, isn), "sport");
        assertEquals(-1, verify6(cookie, S_HI, S_LO, D_HI, D_LO, SPORT, DPORT + 1, CLIENT_ISN, isn), "dport");
        assertEquals(-1, verify6(cookie, S_HI, S_LO, D_HI, D_LO, SPORT, DPORT, CLIENT_ISN + 1, isn), "client ISN");
        assertEquals(-1, verify6(cookie, D_HI, D_LO, S_HI, S_LO, DPORT, SPORT, CLIENT_ISN, isn), "reversed");
        for (int bit = 0; bit < 32; bit++) {
            int b = bit;
            assertEquals(-1, check6(isn ^ (1 << bit)), () -> "ISN bit " + b);
        }
    }

    @Test
    void shouldRejectIpv6AckWithExpiredCookie() {
        int isn = mint6(0, 0, false);
        clock.addAndGet(PERIOD);
        assertEquals(isn & SynCookie.OPTION_BITS, check6(isn));
        clock.addAndGet(PERIOD);
        assertEquals(-1, check6(isn));
    }

    @Test
    void shouldNotAcceptAnIpv4CookieForTheMappedIpv6Tuple() {
        int isn = mint(3, 3, true);
        long v4MappedHi = 0;
        long sLo = 0x0000_ffff_0000_0000L | (SADDR & 0xffffffffL);
        long dLo = 0x0000_ffff_0000_0000L | (DADDR & 0xffffffffL);
        assertEquals(-1, verify6(cookie, v4MappedHi, sLo, v4MappedHi, dLo, SPORT, DPORT, CLIENT_ISN, isn));
    }

    @Test
    void shouldRejectOutOfRangeOptionIndices() {
        assertThrows(IllegalArgumentException.class, () -> mint(8, 0, false));
        assertThrows(IllegalArgumentException.class, () -> mint(0, 16, false));
        assertThrows(IllegalArgumentException.class, () -> mint(-1, 0, false));
        assertThrows(IllegalArgumentException.class, () -> mint6(0, -1, false));
    }

    // ---- key rotation -----------------------------------------------------------------------------

    @Test
    void shouldAcceptCookieUntilTheEndOfTheNextGeneration() {
        clock.set((G + 1) * PERIOD - 1); // last millisecond of G
        int isn = mint(5, 5, false);

        clock.set((G + 1) * PERIOD); // first millisecond of G + 1
        assertEquals(isn & SynCookie.OPTION_BITS, check(isn));
        clock.set((G + 2) * PERIOD - 1); // last millisecond of G + 1
        assertEquals(isn & SynCookie.OPTION_BITS, check(isn));
        clock.set((G + 2) * PERIOD); // first millisecond of G + 2
        assertEquals(-1, check(isn));
    }

    @Test
    void shouldAcceptCookieMintedAtTheFirstMillisecondForTwoFullPeriods() {
        clock.set(G * PERIOD);
        int isn = mint(5, 5, false);

        clock.set((G + 2) * PERIOD - 1);
        assertEquals(isn & SynCookie.OPTION_BITS, check(isn));
        clock.set((G + 2) * PERIOD);
        assertEquals(-1, check(isn));
    }

    @Test
    void shouldKeepRejectingExpiredCookieWhenItsParityComesRoundAgain() {
        int isn = mint(1, 2, true);
        for (int later = 2; later <= 6; later++) {
            clock.set((G + later) * PERIOD + 1);
            int l = later;
            assertEquals(-1, check(isn), () -> "generation G + " + l);
        }
    }

    @Test
    void shouldAcceptCookiesMintedByAnotherProxyWithTheSameSecretAndClock() {
        SynCookie other = cookieWith(KeyRingTest.secret(32, 7));
        int isn = other.encode(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN, 4, 4, true);
        assertEquals(isn & SynCookie.OPTION_BITS, check(isn));

        clock.addAndGet(PERIOD);
        int back = mint(2, 6, false);
        assertEquals(back & SynCookie.OPTION_BITS, other.verify(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN, back));
        assertEquals(isn & SynCookie.OPTION_BITS, other.verify(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN, isn));
    }

    @Test
    void shouldRejectCookiesMintedWithADifferentSecret() {
        SynCookie stranger = cookieWith(KeyRingTest.secret(32, 8));
        int isn = stranger.encode(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN, 4, 4, true);
        assertEquals(-1, check(isn));
        int isn6 = stranger.encode6(S_HI, S_LO, D_HI, D_LO, SPORT, DPORT, CLIENT_ISN, 4, 4, true);
        assertEquals(-1, check6(isn6));
    }

    // ---- hot path ---------------------------------------------------------------------------------

    @Test
    void shouldNotAllocateWhenEncodingOrVerifying() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        roundTrips(50_000); // warm up: class initialisation, the MXBean's own first-call setup
        long before = threads.getCurrentThreadAllocatedBytes();
        int accepted = roundTrips(50_000);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;

        assertEquals(0, allocated, "bytes allocated by 50k IPv4 + IPv6 encode/verify pairs");
        assertEquals(100_000, accepted);
    }

    /** Mints and verifies {@code n} IPv4 and {@code n} IPv6 cookies; returns how many verified. */
    private int roundTrips(int n) {
        int accepted = 0;
        for (int i = 0; i < n; i++) {
            int isn = cookie.encode(SADDR, DADDR, SPORT, DPORT, i, i & 7, (i >>> 3) & 7, (i & 64) != 0);
            int isn6 = cookie.encode6(S_HI, S_LO, D_HI, D_LO, SPORT, DPORT, i, i & 7, 0, true);
            accepted += cookie.verify(SADDR, DADDR, SPORT, DPORT, i, isn) >= 0 ? 1 : 0;
            accepted += verify6(cookie, S_HI, S_LO, D_HI, D_LO, SPORT, DPORT, i, isn6) >= 0 ? 1 : 0;
        }
        return accepted;
    }

    // ---- one hash for the final ACK and its zero-window probe --------------------------------------

    @Test
    void shouldMatchTheFinalAckAndTheProbeFormWithOneCheck() {
        int isn = mint(3, 5, true);
        int bits = isn & SynCookie.OPTION_BITS;
        // Final ACK: seq = client ISN + 1.
        assertEquals(bits, cookie.verifyAck(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN + 1, isn, true));
        assertEquals(bits, cookie.verifyAck(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN + 1, isn, false));
        // Zero-window probe: seq = client ISN, only when the segment may be a probe (no payload).
        assertEquals(bits | SynCookie.PROBE, cookie.verifyAck(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN, isn, true));
        assertEquals(-1, cookie.verifyAck(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN, isn, false));
        // Neither: two below, or any other tuple.
        assertEquals(-1, cookie.verifyAck(SADDR, DADDR, SPORT, DPORT, CLIENT_ISN - 1, isn, true));
        assertEquals(-1, cookie.verifyAck(SADDR, DADDR, SPORT + 1, DPORT, CLIENT_ISN + 1, isn, true));
        int isn6 = mint6(2, 1, false);
        assertEquals(isn6 & SynCookie.OPTION_BITS, cookie.verifyAck6(S_HI, S_LO, D_HI, D_LO, SPORT, DPORT, CLIENT_ISN + 1, isn6, true));
        assertEquals((isn6 & SynCookie.OPTION_BITS) | SynCookie.PROBE,
                cookie.verifyAck6(S_HI, S_LO, D_HI, D_LO, SPORT, DPORT, CLIENT_ISN, isn6, true));
    }

    @Test
    void shouldAgreeWithVerifyForBothFormsOnRandomTuples() {
        Random r = new Random(5);
        for (int n = 0; n < 20_000; n++) {
            int s = r.nextInt();
            int d = r.nextInt();
            int sp = r.nextInt(65536);
            int dp = r.nextInt(65536);
            int x = r.nextInt();
            int isn = n % 2 == 0 ? cookie.encode(s, d, sp, dp, x, r.nextInt(8), r.nextInt(8), r.nextBoolean())
                    : r.nextInt();
            int seq = x + 1 - (n % 3 == 0 ? 1 : 0);
            int finalForm = cookie.verify(s, d, sp, dp, seq - 1, isn);
            int probeForm = cookie.verify(s, d, sp, dp, seq, isn);
            int expected = finalForm >= 0 ? finalForm : probeForm >= 0 ? probeForm | SynCookie.PROBE : -1;
            assertEquals(expected, cookie.verifyAck(s, d, sp, dp, seq, isn, true), "iteration " + n);
        }
    }

    @Test
    void shouldNeverLetConsecutiveClientIsnsShareTheirContribution() {
        Random r = new Random(11);
        for (int n = 0; n < 1_000_000; n++) {
            int x = r.nextInt();
            assertTrue(SynCookie.bindIsn(x) != SynCookie.bindIsn(x + 1), "ISN " + x);
        }
        assertTrue(SynCookie.bindIsn(-1) != SynCookie.bindIsn(0));
    }
}
