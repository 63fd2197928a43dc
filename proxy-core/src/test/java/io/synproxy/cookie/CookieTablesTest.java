package io.synproxy.cookie;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CookieTablesTest {

    @ParameterizedTest(name = "client MSS {0} -> index {1} ({2})")
    @CsvSource({
            "-1,    0, 216",
            "0,     0, 216",
            "215,   0, 216",
            "216,   0, 216",
            "535,   0, 216",
            "536,   1, 536",
            "1199,  1, 536",
            "1200,  2, 1200",
            "1360,  3, 1360",
            "1400,  4, 1400",
            "1440,  5, 1440",
            "1452,  6, 1452",
            "1459,  6, 1452",
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
            "0,     0, 1220",
            "536,   0, 1220",
            "1219,  0, 1220",
            "1220,  0, 1220",
            "1279,  0, 1220",
            "1280,  1, 1280",
            "1340,  2, 1340",
            "1380,  3, 1380",
            "1400,  4, 1400",
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
            "-1, 0, -1",
            "0,  1, 0",
            "1,  1, 0",
            "2,  2, 2",
            "3,  2, 2",
            "4,  3, 4",
            "5,  3, 4",
            "6,  4, 6",
            "7,  5, 7",
            "8,  6, 8",
            "9,  6, 8",
            "10, 7, 10",
            "13, 7, 10",
            "14, 7, 10",
            "15, 7, 10",
            "255, 7, 10",
    })
    void shouldRoundWindowScaleDownToTheTable(int clientWscale, int expectedIdx, int expectedShift) {
        assertEquals(expectedIdx, CookieTables.wscaleIndex(clientWscale));
        assertEquals(expectedShift, CookieTables.wscale(CookieTables.wscaleIndex(clientWscale)));
    }

    @Test
    void shouldNeverOverestimateTheClientMssOrShift() {
        for (int mss = 216; mss <= 9000; mss++) {
            assertTrue(CookieTables.mss(CookieTables.mssIndex(mss)) <= mss, "IPv4 MSS " + mss);
        }
        for (int mss = 1220; mss <= 9000; mss++) {
            assertTrue(CookieTables.mss6(CookieTables.mssIndex6(mss)) <= mss, "IPv6 MSS " + mss);
        }
        for (int shift = 0; shift <= 14; shift++) {
            int got = CookieTables.wscale(CookieTables.wscaleIndex(shift));
            assertTrue(got >= 0 && got <= shift, "shift " + shift + " -> " + got);
        }
    }

    @Test
    void shouldMapEveryIndexBackToItself() {
        for (int idx = 0; idx < 8; idx++) {
            assertEquals(idx, CookieTables.mssIndex(CookieTables.mss(idx)));
            assertEquals(idx, CookieTables.mssIndex6(CookieTables.mss6(idx)));
            int shift = CookieTables.wscale(idx);
            assertEquals(idx, CookieTables.wscaleIndex(shift));
        }
    }

    @Test
    void shouldRejectIndicesOutsideTheTables() {
        for (int idx : new int[] {-1, 8}) {
            assertThrows(IndexOutOfBoundsException.class, () -> CookieTables.mss(idx));
            assertThrows(IndexOutOfBoundsException.class, () -> CookieTables.mss6(idx));
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
