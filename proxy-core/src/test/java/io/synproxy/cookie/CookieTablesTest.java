package io.synproxy.cookie;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CookieTablesTest {

    @ParameterizedTest(name = "client MSS {0} -> index {1} ({2})")
    @CsvSource({
            "-1,    0, 48",
            "0,     0, 48",
            "48,    0, 48",
            "200,   0, 48",
            "255,   0, 48",
            "256,   1, 256",
            "535,   1, 256",
            "536,   2, 536",
            "1199,  2, 536",
            "1200,  3, 1200",
            "1360,  4, 1360",
            "1400,  5, 1400",
            "1440,  6, 1440",
            "1452,  6, 1440",
            "1459,  6, 1440",
            "1460,  7, 1460",
            "9000,  7, 1460",
            "65535, 7, 1460",
    })
    void shouldRoundIpv4MssDownToTheTable(int clientMss, int expectedIdx, int expectedMss) {
        assertEquals(expectedIdx, CookieTables.mssIndex(clientMss));
        assertEquals(expectedMss, CookieTables.mss(CookieTables.mssIndex(clientMss)));
    }

    @ParameterizedTest(name = "client MSS {0} -> index {1} ({2})")
    @CsvSource({
            "0,     0, 48",
            "535,   0, 48",
            "536,   1, 536",
            "1000,  1, 536",
            "1219,  1, 536",
            "1220,  2, 1220",
            "1279,  2, 1220",
            "1280,  3, 1280",
            "1340,  3, 1280",
            "1380,  4, 1380",
            "1400,  4, 1380",
            "1420,  5, 1420",
            "1432,  6, 1432",
            "1439,  6, 1432",
            "1440,  7, 1440",
            "9000,  7, 1440",
    })
    void shouldRoundIpv6MssDownToTheTable(int clientMss, int expectedIdx, int expectedMss) {
        assertEquals(expectedIdx, CookieTables.mssIndex6(clientMss));
        assertEquals(expectedMss, CookieTables.mss6(CookieTables.mssIndex6(clientMss)));
    }

    @ParameterizedTest(name = "client wscale {0} -> index {1} (shift {2})")
    @CsvSource({
            "-1,  0,  -1",
            "0,   1,  0",
            "1,   2,  1",
            "9,   10, 9",
            "14,  15, 14",
            "15,  15, 14",
            "255, 15, 14",
    })
    void shouldIndexWindowScaleAsShiftPlusOne(int clientWscale, int expectedIdx, int expectedShift) {
        assertEquals(expectedIdx, CookieTables.wscaleIndex(clientWscale));
        assertEquals(expectedShift, CookieTables.wscale(CookieTables.wscaleIndex(clientWscale)));
    }

    @Test
    void shouldNeverOverestimateTheClientMssOrShift() {
        for (int shift = 0; shift <= 14; shift++) {
            int got = CookieTables.wscale(CookieTables.wscaleIndex(shift));
            assertTrue(got >= 0 && got <= shift, "shift " + shift + " -> " + got);
        }
    }

    @Test
    void shouldKeepEveryWindowShiftExactlyAndTakeFifteenAndAboveAsFourteen() {
        assertEquals(-1, CookieTables.wscale(CookieTables.wscaleIndex(-1)));
        for (int shift = 0; shift <= 14; shift++) {
            assertEquals(shift, CookieTables.wscale(CookieTables.wscaleIndex(shift)), "shift " + shift);
        }
        assertEquals(14, CookieTables.wscale(CookieTables.wscaleIndex(15)));
        assertEquals(14, CookieTables.wscale(CookieTables.wscaleIndex(255)));
    }

    @Test
    void shouldNeverRoundAClientMssUp() {
        // 48: the kernel's own floor (tcp_min_snd_mss), below which no Linux socket sends smaller segments.
        for (int mss = 48; mss <= 65535; mss++) {
            assertTrue(CookieTables.mss(CookieTables.mssIndex(mss)) <= mss, "IPv4 MSS " + mss);
            assertTrue(CookieTables.mss6(CookieTables.mssIndex6(mss)) <= mss, "IPv6 MSS " + mss);
        }
    }

    @Test
    void shouldMapEveryIndexBackToItself() {
        for (int idx = 0; idx < 8; idx++) {
            assertEquals(idx, CookieTables.mssIndex(CookieTables.mss(idx)));
            assertEquals(idx, CookieTables.mssIndex6(CookieTables.mss6(idx)));
        }
        for (int idx = 0; idx < 16; idx++) {
            assertEquals(idx, CookieTables.wscaleIndex(CookieTables.wscale(idx)));
        }
    }

    @Test
    void shouldRejectIndicesOutsideTheTables() {
        for (int idx : new int[] {-1, 8}) {
            assertThrows(IndexOutOfBoundsException.class, () -> CookieTables.mss(idx));
            assertThrows(IndexOutOfBoundsException.class, () -> CookieTables.mss6(idx));
        }
        for (int idx : new int[] {-1, 16}) {
            assertThrows(IndexOutOfBoundsException.class, () -> CookieTables.wscale(idx));
        }
    }

    @Test
    void shouldRejectNegativeWindowScaleOtherThanAbsent() {
        // -56 is what a sign-extended option byte of 200 would look like.
        assertThrows(IllegalArgumentException.class, () -> CookieTables.wscaleIndex(-2));
        assertThrows(IllegalArgumentException.class, () -> CookieTables.wscaleIndex(-56));
    }
}
