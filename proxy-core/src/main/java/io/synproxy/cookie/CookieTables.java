package io.synproxy.cookie;

import java.util.Objects;

/**
 * The option tables whose 3-bit indices travel in the cookie ISN.
 *
 * <p>A SYN cookie has room for only a few bits of the client's SYN options, so the MSS and window scale
 * are quantised to eight values each. Every lookup rounds <em>down</em>: announcing a smaller MSS than the
 * client offered, or assuming a smaller window shift than it uses, only under-estimates what the client
 * can take, which costs throughput but never correctness.
 */
public final class CookieTables {

    /** IPv4 MSS values. 536 is the RFC 9293 default; the rest are common link MTUs minus 40 bytes of headers. */
    private static final int[] MSS4 = {216, 536, 1200, 1360, 1400, 1440, 1452, 1460};

    /** IPv6 MSS values. 1220 is the minimum (1280-byte IPv6 MTU minus 60 bytes of headers). */
    private static final int[] MSS6 = {1220, 1280, 1340, 1380, 1400, 1420, 1432, 1440};

    /** Window shift per index; index 0 is a placeholder because it means "no window scale option". */
    private static final int[] WSCALE = {-1, 0, 2, 4, 6, 7, 8, 10};

    /** RFC 7323, section 2.3: a shift above 14 is to be treated as 14. */
    private static final int MAX_WSCALE = 14;

    private CookieTables() {
    }

    /**
     * The index of the largest IPv4 table MSS not above {@code clientMss}. A value below the smallest
     * entry (216) gives index 0; a SYN without an MSS option should be passed as 536 (RFC 9293 default).
     */
    public static int mssIndex(int clientMss) {
        return floorIndex(MSS4, clientMss);
    }

    /** The IPv4 MSS for an index 0..7. */
    public static int mss(int idx) {
        return MSS4[Objects.checkIndex(idx, MSS4.length)];
    }

    /**
     * The index of the largest IPv6 table MSS not above {@code clientMss}. A value below 1220 gives index 0;
     * a SYN without an MSS option should be passed as 1220.
     */
    public static int mssIndex6(int clientMss) {
        return floorIndex(MSS6, clientMss);
    }

    /** The IPv6 MSS for an index 0..7. */
    public static int mss6(int idx) {
        return MSS6[Objects.checkIndex(idx, MSS6.length)];
    }

    /**
     * The window-scale index for the client's shift: 0 if the option was absent ({@code -1}), otherwise
     * the index (1..7) of the largest table shift not above {@code clientWscale}. Shifts above 14 count as 14.
     *
     * @throws IllegalArgumentException if {@code clientWscale < -1} (most likely a sign-extended option byte)
     */
    public static int wscaleIndex(int clientWscale) {
        if (clientWscale < -1) {
            throw new IllegalArgumentException("window scale must be -1 (absent) or >= 0: " + clientWscale);
        }
        if (clientWscale == -1) {
            return 0;
        }
        int shift = Math.min(clientWscale, MAX_WSCALE);
        int idx = WSCALE.length - 1;
        while (WSCALE[idx] > shift) {
            idx--;
        }
        return idx;
    }

    /** The window shift for an index 0..7, or {@code -1} for index 0 (client sent no window scale option). */
    public static int wscale(int idx) {
        return WSCALE[Objects.checkIndex(idx, WSCALE.length)];
    }

    private static int floorIndex(int[] ascending, int value) {
        int idx = ascending.length - 1;
        while (idx > 0 && ascending[idx] > value) {
            idx--;
        }
        return idx;
    }
}
