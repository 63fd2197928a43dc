package io.synproxy.packet;

/**
 * The IPv6 fragment header (RFC 8200, 4.5), as far as the parser needs it:
 * <pre>
 *  0               8              16                           29  31
 * +---------------+---------------+-----------------------------+---+-+
 * |  Next Header  |   Reserved    |      Fragment Offset        |Res|M|
 * +---------------+---------------+-----------------------------+---+-+
 * |                          Identification                          |
 * +------------------------------------------------------------------+
 * </pre>
 * An atomic fragment (offset 0, M = 0) is a whole packet that merely carries the header; RFC 6946 has it
 * processed as the unfragmented packet, the header skipped like any other 8-byte extension header.
 */
public final class Ipv6Fragment {
    /** The header's length: it has no length field. */
    public static final int LENGTH = 8;
    /** Offset of the 16-bit offset-and-flags word in the header. */
    public static final int OFFSET_AND_FLAGS = 2;
    private static final int OFFSET_MASK = 0xfff8;
    private static final int MORE_FRAGMENTS = 0x0001;

    private Ipv6Fragment() {
    }

    /** Whether the header's offset-and-flags word (network order, unsigned) says offset 0 and no more fragments. */
    public static boolean isAtomic(int offsetAndFlags) {
        return (offsetAndFlags & (OFFSET_MASK | MORE_FRAGMENTS)) == 0;
    }
}
