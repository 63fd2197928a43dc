package io.synproxy.cookie;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * SipHash-2-4 (Aumasson and Bernstein), returning the 64-bit tag.
 *
 * <p>The 128-bit key is passed as two longs: for the reference key bytes {@code 00 01 .. 0f},
 * {@code k0} is the little-endian long of bytes 0..7 and {@code k1} that of bytes 8..15.
 *
 * <p>The fixed-width variants ({@link #hash24}, {@link #hash48}) hash a message made
 * of whole little-endian words, so they equal {@link #hash} over the same bytes while taking the words
 * straight from registers: no array, no allocation, suitable for per-packet use.
 */
public final class SipHash {

    private static final long INIT0 = 0x736f6d6570736575L; // "somepseu"
    private static final long INIT1 = 0x646f72616e646f6dL; // "dorandom"
    private static final long INIT2 = 0x6c7967656e657261L; // "lygenera"
    private static final long INIT3 = 0x7465646279746573L; // "tedbytes"

    private static final VarHandle LONG_LE =
            MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private SipHash() {
    }

    /**
     * SipHash-2-4 of {@code data[off, off + len)}.
     *
     * @throws IndexOutOfBoundsException if the range is not inside {@code data}
     */
    public static long hash(long k0, long k1, byte[] data, int off, int len) {
        Objects.checkFromIndexSize(off, len, data.length);
        long v0 = k0 ^ INIT0;
        long v1 = k1 ^ INIT1;
        long v2 = k0 ^ INIT2;
        long v3 = k1 ^ INIT3;

        int end = off + (len & ~7);
        // The last block carries the message length (mod 256) in its top byte and the 0..7 tail bytes below it.
        long last = (long) len << 56;
        for (int i = 0; i < (len & 7); i++) {
            last |= (data[end + i] & 0xffL) << (8 * i);
        }
        for (int i = off; ; i += 8) {
            long m = i < end ? (long) LONG_LE.get(data, i) : last;
            v3 ^= m;
            for (int r = 0; r < 2; r++) {
                v0 += v1; v1 = Long.rotateLeft(v1, 13); v1 ^= v0; v0 = Long.rotateLeft(v0, 32);
                v2 += v3; v3 = Long.rotateLeft(v3, 16); v3 ^= v2;
                v0 += v3; v3 = Long.rotateLeft(v3, 21); v3 ^= v0;
                v2 += v1; v1 = Long.rotateLeft(v1, 17); v1 ^= v2; v2 = Long.rotateLeft(v2, 32);
            }
            v0 ^= m;
            if (i >= end) {
                break;
            }
        }
        return finish(v0, v1, v2, v3);
    }

    /** SipHash-2-4 of the 24-byte message {@code LE(m0) || LE(m1) || LE(m2)}. Allocation-free. */
    public static long hash24(long k0, long k1, long m0, long m1, long m2) {
        long v0 = k0 ^ INIT0;
        long v1 = k1 ^ INIT1;
        long v2 = k0 ^ INIT2;
        long v3 = k1 ^ INIT3;
        // Three message words, then the length-only last block; the JIT unrolls the constant-trip loops.
        for (int w = 0; w < 4; w++) {
            long m = switch (w) {
                case 0 -> m0;
                case 1 -> m1;
                case 2 -> m2;
                default -> 24L << 56;
            };
            v3 ^= m;
            for (int r = 0; r < 2; r++) {
                v0 += v1; v1 = Long.rotateLeft(v1, 13); v1 ^= v0; v0 = Long.rotateLeft(v0, 32);
                v2 += v3; v3 = Long.rotateLeft(v3, 16); v3 ^= v2;
                v0 += v3; v3 = Long.rotateLeft(v3, 21); v3 ^= v0;
                v2 += v1; v1 = Long.rotateLeft(v1, 17); v1 ^= v2; v2 = Long.rotateLeft(v2, 32);
            }
            v0 ^= m;
        }
        return finish(v0, v1, v2, v3);
    }

    /**
     * SipHash-2-4 of the 48-byte message {@code LE(m0) || .. || LE(m5)}. Allocation-free.
     * The IPv6 cookie needs this: two addresses, ports and ISN fill 40 bytes, the option bits need a sixth word.
     */
    public static long hash48(long k0, long k1, long m0, long m1, long m2, long m3, long m4, long m5) {
        long v0 = k0 ^ INIT0;
        long v1 = k1 ^ INIT1;
        long v2 = k0 ^ INIT2;
        long v3 = k1 ^ INIT3;
        for (int w = 0; w < 7; w++) {
            long m = switch (w) {
                case 0 -> m0;
                case 1 -> m1;
                case 2 -> m2;
                case 3 -> m3;
                case 4 -> m4;
                case 5 -> m5;
                default -> 48L << 56;
            };
            v3 ^= m;
            for (int r = 0; r < 2; r++) {
                v0 += v1; v1 = Long.rotateLeft(v1, 13); v1 ^= v0; v0 = Long.rotateLeft(v0, 32);
                v2 += v3; v3 = Long.rotateLeft(v3, 16); v3 ^= v2;
                v0 += v3; v3 = Long.rotateLeft(v3, 21); v3 ^= v0;
                v2 += v1; v1 = Long.rotateLeft(v1, 17); v1 ^= v2; v2 = Long.rotateLeft(v2, 32);
            }
            v0 ^= m;
        }
        return finish(v0, v1, v2, v3);
    }

    /** The four finalization rounds, after the 0xff marker that separates them from compression. */
    private static long finish(long v0, long v1, long v2, long v3) {
        v2 ^= 0xff;
        for (int r = 0; r < 4; r++) {
            v0 += v1; v1 = Long.rotateLeft(v1, 13); v1 ^= v0; v0 = Long.rotateLeft(v0, 32);
            v2 += v3; v3 = Long.rotateLeft(v3, 16); v3 ^= v2;
            v0 += v3; v3 = Long.rotateLeft(v3, 21); v3 ^= v0;
            v2 += v1; v1 = Long.rotateLeft(v1, 17); v1 ^= v2; v2 = Long.rotateLeft(v2, 32);
        }
        return v0 ^ v1 ^ v2 ^ v3;
    }
}
