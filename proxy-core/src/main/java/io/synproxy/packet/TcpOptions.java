package io.synproxy.packet;

import java.lang.foreign.MemorySegment;

import static io.synproxy.packet.Bits.BYTE;
import static io.synproxy.packet.Bits.NET_INT;
import static io.synproxy.packet.Bits.NET_SHORT;

/**
 * Mutable, reusable holder for the TCP options a SYN proxy cares about, filled by {@link #parse}.
 *
 * <pre>
 * Kind 0  End of option list  +--------+
 *                             |00000000|
 *                             +--------+
 * Kind 1  No-operation        +--------+
 *                             |00000001|
 *                             +--------+
 * Kind 2  MSS (RFC 793)       +--------+--------+--------+--------+
 *                             |00000010|00000100|  max seg size   |
 *                             +--------+--------+--------+--------+
 * Kind 3  Window scale        +--------+--------+--------+
 *         (RFC 7323)          |00000011|00000011| shift  |
 *                             +--------+--------+--------+
 * Kind 4  SACK permitted      +--------+--------+
 *         (RFC 2018)          |00000100|00000010|
 *                             +--------+--------+
 * Kind 8  Timestamps          +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+
 *         (RFC 7323)          |00001000|00001010|     TS Value (TSval)              |  TS Echo Reply (TSecr)            |
 *                             +--------+--------+--------+--------+--------+--------+--------+--------+--------+--------+
 * Any other kind:             | kind   | length | length - 2 bytes ...
 * </pre>
 *
 * Rules: EOL ends parsing; NOP is one byte; every other kind needs a length byte within the option area, a length
 * of at least 2 and not running past the end; known kinds must have exactly their length; unknown kinds are skipped.
 * A later duplicate of a known option overwrites an earlier one.
 */
public final class TcpOptions {
    public static final int KIND_EOL = 0;
    public static final int KIND_NOP = 1;
    public static final int KIND_MSS = 2;
    public static final int KIND_WSCALE = 3;
    public static final int KIND_SACK_PERMITTED = 4;
    public static final int KIND_TIMESTAMPS = 8;

    public static final int LENGTH_MSS = 4;
    public static final int LENGTH_WSCALE = 3;
    public static final int LENGTH_SACK_PERMITTED = 2;
    public static final int LENGTH_TIMESTAMPS = 10;

    private int mss;
    private int wscale;
    private boolean sackPermitted;
    private boolean timestamps;
    private int tsVal;
    private int tsEcr;

    public TcpOptions() {
        clear();
    }

    /** Resets to "no options present". */
    public TcpOptions clear() {
        mss = -1;
        wscale = -1;
        sackPermitted = false;
        timestamps = false;
        tsVal = 0;
        tsEcr = 0;
        return this;
    }

    /**
     * Parses the {@code len} option bytes at {@code off} (which must lie inside {@code seg}). Clears first; on a
     * rejection the holder is left cleared.
     *
     * @return {@link Reject#NONE} or {@link Reject#BAD_TCP_OPTION}
     */
    public Reject parse(MemorySegment seg, long off, int len) {
        clear();
        int i = 0;
        while (i < len) {
            final long at = off + i;
            final int kind = seg.get(BYTE, at) & 0xFF;
            if (kind == KIND_EOL) {
                break;
            }
            if (kind == KIND_NOP) {
                i++;
                continue;
            }
            if (len - i < 2) {
                return reject();
            }
            final int optionLength = seg.get(BYTE, at + 1) & 0xFF;
            if (optionLength < 2 || optionLength > len - i) {
                return reject();
            }
            switch (kind) {
                case KIND_MSS -> {
                    if (optionLength != LENGTH_MSS) {
                        return reject();
                    }
                    mss = seg.get(NET_SHORT, at + 2) & 0xFFFF;
                }
                case KIND_WSCALE -> {
                    if (optionLength != LENGTH_WSCALE) {
                        return reject();
                    }
                    wscale = seg.get(BYTE, at + 2) & 0xFF;
                }
                case KIND_SACK_PERMITTED -> {
                    if (optionLength != LENGTH_SACK_PERMITTED) {
                        return reject();
                    }
                    sackPermitted = true;
                }
                case KIND_TIMESTAMPS -> {
                    if (optionLength != LENGTH_TIMESTAMPS) {
                        return reject();
                    }
                    timestamps = true;
                    tsVal = seg.get(NET_INT, at + 2);
                    tsEcr = seg.get(NET_INT, at + 6);
                }
                default -> {
                    // unknown kind: skipped by its length
                }
            }
            i += optionLength;
        }
        return Reject.NONE;
    }

    private Reject reject() {
        clear();
        return Reject.BAD_TCP_OPTION;
    }

    /** Maximum segment size, or -1 if absent. */
    public int mss() {
        return mss;
    }

    /** Raw window scale shift (0..255, the caller clamps to 14), or -1 if absent. */
    public int wscale() {
        return wscale;
    }

    public boolean sackPermitted() {
        return sackPermitted;
    }

    public boolean hasTimestamps() {
        return timestamps;
    }

    /** TSval, meaningful only if {@link #hasTimestamps()}. */
    public int tsVal() {
        return tsVal;
    }

    /** TSecr, meaningful only if {@link #hasTimestamps()}. */
    public int tsEcr() {
        return tsEcr;
    }
}
