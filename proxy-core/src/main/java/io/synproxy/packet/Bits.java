package io.synproxy.packet;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Bit tricks for wire formats: network-order layouts, the Internet checksum, sequence-number arithmetic. */
public final class Bits {
    /** Unsigned-as-needed byte. */
    public static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;
    /** 16-bit big-endian, any alignment. */
    public static final ValueLayout.OfShort NET_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    /** 32-bit big-endian, any alignment. */
    public static final ValueLayout.OfInt NET_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    /** 64-bit big-endian, any alignment. */
    public static final ValueLayout.OfLong NET_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private static final long U32_MASK = 0xFFFF_FFFFL;

    private Bits() {
    }

    /**
     * RFC 1071 ones' complement sum of {@code len} bytes at {@code off}, taken as big-endian 16-bit words,
     * added to {@code initial} (an unsigned 32-bit partial sum, e.g. a pseudo-header or a previous result).
     * An odd trailing byte is padded with a zero low byte. Reads 8 bytes at a time and folds carries once at the
     * end. When chaining calls, only the last chunk may have an odd length.
     *
     * @return the sum folded to 16 bits (0..0xFFFF), not complemented; feed it to {@link #fold(int)}
     */
    public static int onesComplementSum(MemorySegment seg, long off, int len, int initial) {
        long sum = initial & U32_MASK;
        long i = off;
        final long end = off + len;
        // 2^28 iterations of < 2^33 each cannot overflow a long; carries are folded afterwards.
        while (end - i >= 8) {
            final long v = seg.get(NET_LONG, i);
            sum += (v >>> 32) + (v & U32_MASK);
            i += 8;
        }
        if (end - i >= 4) {
            sum += seg.get(NET_INT, i) & U32_MASK;
            i += 4;
        }
        if (end - i >= 2) {
            sum += seg.get(NET_SHORT, i) & 0xFFFF;
            i += 2;
        }
        if (end - i >= 1) {
            sum += (seg.get(BYTE, i) & 0xFF) << 8;
        }
        return foldCarries(sum);
    }

    /** Final checksum from an unsigned 32-bit ones' complement sum: carries folded to 16 bits, then complemented. */
    public static short fold(int sum) {
        return fold(sum & U32_MASK);
    }

    /** Final checksum from a ones' complement sum: carries folded to 16 bits, then complemented. */
    public static short fold(long sum) {
        return (short) ~foldCarries(sum);
    }

    private static int foldCarries(long sum) {
        long s = sum;
        while ((s >>> 16) != 0) {
            s = (s & 0xFFFF) + (s >>> 16);
        }
        return (int) s;
    }

    /** {@code a < b} in sequence space (RFC 793, modulo 2^32). */
    public static boolean seqLt(int a, int b) {
        return a - b < 0;
    }

    /** The unsigned value of a 32-bit field. */
    public static long u32(int v) {
        return v & U32_MASK;
    }

    /** The unsigned value of a 16-bit field. */
    public static int u16(short v) {
        return v & 0xFFFF;
    }

    /** The unsigned value of an 8-bit field. */
    public static int u8(byte v) {
        return v & 0xFF;
    }
}
