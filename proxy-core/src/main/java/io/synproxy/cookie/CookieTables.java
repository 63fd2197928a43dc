package io.synproxy.cookie;

import java.util.Objects;

/**
 * The option encodings whose indices travel in the cookie ISN.
 *
 * <p>The window shift travels exactly (4 bits: absent, or 0..14). The MSS is quantised to eight values per
 * family, always rounded <em>down</em>: a segment larger than the client's MSS breaks RFC 9293 (MUST-16),
 * a smaller one only costs throughput. Both tables reach down to 48, the floor below which no Linux socket
 * sends smaller segments anyway ({@code tcp_min_snd_mss}, which a kernel listener applies to the client's MSS
 * too), so a client announcing less than the next entry never gets more than it asked for. (A handed-off socket
 * cannot go below 88, TCP_MIN_MSS: see RepairHandoff.)
 */
public final class CookieTables {

    /**
     * IPv4 MSS values. 48 is the kernel's floor, 256 catches the small-MTU links below 536 (the RFC 9293
     * default); the rest are common link MTUs minus 40 bytes of headers (1452, PPPoE, rounds to 1440).
     */
    private static final int[] MSS4 = {48, 256, 536, 1200, 1360, 1400, 1440, 1460};

    /**
     * IPv6 MSS values. 1220 is the minimum a path must carry (1280-byte IPv6 MTU minus 60 bytes of headers),
     * but a client may announce less; 48 and 536 are there for it, as for IPv4.
     */
    private static final int[] MSS6 = {48, 536, 1220, 1280, 1380, 1420, 1432, 1440};

    /** Window-scale indices: 0 for "no option", shift + 1 otherwise, so 16 values in 4 bits. */
    private static final int WSCALE_INDICES = 16;

    /** RFC 7323, section 2.3: a shift above 14 is to be treated as 14. */
    private static final int MAX_WSCALE = 14;

    private CookieTables() {
    }

    /**
     * The index of the largest IPv4 table MSS not above {@code clientMss}. A value below the smallest
     * entry (48, the kernel's floor) gives index 0; a SYN without an MSS option should be passed as 536 (RFC 9293 default).
     */
    public static int mssIndex(int clientMss) {
        return floorIndex(MSS4, clientMss);
    }

    /** The IPv4 MSS for an index 0..7. */
    public static int mss(int idx) {
        return MSS4[Objects.checkIndex(idx, MSS4.length)];
    }

    /**
     * The index of the largest IPv6 table MSS not above {@code clientMss}. A value below 48 gives index 0;
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
     * The window-scale index for the client's shift: 0 if the option was absent ({@code -1}), otherwise the
     * shift plus one (1..15). Shifts above 14 count as 14 (RFC 7323, section 2.3).
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
        return Math.min(clientWscale, MAX_WSCALE) + 1;
    }

    /** The window shift for an index 0..15, or {@code -1} for index 0 (client sent no window scale option). */
    public static int wscale(int idx) {
        return Objects.checkIndex(idx, WSCALE_INDICES) - 1;
    }

    private static int floorIndex(int[] ascending, int value) {
        int idx = ascending.length - 1;
        while (idx > 0 && ascending[idx] > value) {
            idx--;
        }
        return idx;
    }
}
