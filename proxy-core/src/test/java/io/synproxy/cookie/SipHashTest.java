package io.synproxy.cookie;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SipHashTest {

    /** Key bytes 00..0f in the k0/k1 convention. */
    private static final long K0 = 0x0706050403020100L;
    private static final long K1 = 0x0f0e0d0c0b0a0908L;

    /**
     * vectors_sip64 from the reference implementation (github.com/veorq/SipHash, vectors.h): SipHash-2-4 with
     * key 00..0f of the message 00 01 .. (n-1), for n = 0..63, each 8-byte output read as a little-endian long.
     */
    private static final long[] REFERENCE = {
            0x726fdb47dd0e0e31L, 0x74f839c593dc67fdL, 0x0d6c8009d9a94f5aL, 0x85676696d7fb7e2dL,
            0xcf2794e0277187b7L, 0x18765564cd99a68dL, 0xcbc9466e58fee3ceL, 0xab0200f58b01d137L,
            0x93f5f5799a932462L, 0x9e0082df0ba9e4b0L, 0x7a5dbbc594ddb9f3L, 0xf4b32f46226bada7L,
            0x751e8fbc860ee5fbL, 0x14ea5627c0843d90L, 0xf723ca908e7af2eeL, 0xa129ca6149be45e5L,
            0x3f2acc7f57c29bdbL, 0x699ae9f52cbe4794L, 0x4bc1b3f0968dd39cL, 0xbb6dc91da77961bdL,
            0xbed65cf21aa2ee98L, 0xd0f2cbb02e3b67c7L, 0x93536795e3a33e88L, 0xa80c038ccd5ccec8L,
            0xb8ad50c6f649af94L, 0xbce192de8a85b8eaL, 0x17d835b85bbb15f3L, 0x2f2e6163076bcfadL,
            0xde4daaaca71dc9a5L, 0xa6a2506687956571L, 0xad87a3535c49ef28L, 0x32d892fad841c342L,
            0x7127512f72f27cceL, 0xa7f32346f95978e3L, 0x12e0b01abb051238L, 0x15e034d40fa197aeL,
            0x314dffbe0815a3b4L, 0x027990f029623981L, 0xcadcd4e59ef40c4dL, 0x9abfd8766a33735cL,
            0x0e3ea96b5304a7d0L, 0xad0c42d6fc585992L, 0x187306c89bc215a9L, 0xd4a60abcf3792b95L,
            0xf935451de4f21df2L, 0xa9538f0419755787L, 0xdb9acddff56ca510L, 0xd06c98cd5c0975ebL,
            0xe612a3cb9ecba951L, 0xc766e62cfcadaf96L, 0xee64435a9752fe72L, 0xa192d576b245165aL,
            0x0a8787bf8ecb74b2L, 0x81b3e73d20b49b6fL, 0x7fa8220ba3b2eceaL, 0x245731c13ca42499L,
            0xb78dbfaf3a8d83bdL, 0xea1ad565322a1a0bL, 0x60e61c23a3795013L, 0x6606d7e446282b93L,
            0x6ca4ecb15c5f91e1L, 0x9f626da15c9625f3L, 0xe51b38608ef25f57L, 0x958a324ceb064572L,
    };

    static Stream<Arguments> referenceVectors() {
        return IntStream.range(0, REFERENCE.length).mapToObj(n -> Arguments.of(n, REFERENCE[n]));
    }

    private static byte[] counting(int n) {
        byte[] m = new byte[n];
        for (int i = 0; i < n; i++) {
            m[i] = (byte) i;
        }
        return m;
    }

    private static byte[] bytesLE(long... words) {
        ByteBuffer b = ByteBuffer.allocate(8 * words.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long w : words) {
            b.putLong(w);
        }
        return b.array();
    }

    @ParameterizedTest(name = "length {0}")
    @MethodSource("referenceVectors")
    void shouldMatchReferenceVector(int length, long expected) {
        assertEquals(expected, SipHash.hash(K0, K1, counting(length), 0, length));
    }

    @ParameterizedTest(name = "length {0}")
    @MethodSource("referenceVectors")
    void shouldHashOnlyTheGivenRangeOfALargerArray(int length, long expected) {
        // Pad both sides with bytes that must not leak into the hash.
        byte[] padded = new byte[length + 13];
        Arrays.fill(padded, (byte) 0xa5);
        System.arraycopy(counting(length), 0, padded, 5, length);
        assertEquals(expected, SipHash.hash(K0, K1, padded, 5, length));
    }

    @Test
    void shouldMatchReferenceVectorsThroughTheWordVariants() {
        // Lengths 24 and 48 of the reference message, read as little-endian words.
        ByteBuffer m = ByteBuffer.wrap(counting(48)).order(ByteOrder.LITTLE_ENDIAN);
        long[] w = new long[6];
        for (int i = 0; i < w.length; i++) {
            w[i] = m.getLong(8 * i);
        }
        assertEquals(REFERENCE[24], SipHash.hash24(K0, K1, w[0], w[1], w[2]));
        assertEquals(SipHash.hash(K0, K1, counting(48), 0, 48),
                SipHash.hash48(K0, K1, w[0], w[1], w[2], w[3], w[4], w[5]));
    }

    @Test
    void shouldComputeTheSameHashWithWordVariantsAsWithBytesOnRandomInputs() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        for (int i = 0; i < 10_000; i++) {
            long k0 = rnd.nextLong();
            long k1 = rnd.nextLong();
            long[] m = rnd.longs(6).toArray();
            String ctx = "seed " + seed + ", iteration " + i;
            assertEquals(SipHash.hash(k0, k1, bytesLE(m[0], m[1], m[2]), 0, 24),
                    SipHash.hash24(k0, k1, m[0], m[1], m[2]), ctx);
            assertEquals(SipHash.hash(k0, k1, bytesLE(m), 0, 48),
                    SipHash.hash48(k0, k1, m[0], m[1], m[2], m[3], m[4], m[5]), ctx);
        }
    }

    @Test
    void shouldDependOnBothKeyHalves() {
        long base = SipHash.hash24(K0, K1, 1, 2, 3);
        for (int bit = 0; bit < 64; bit++) {
            int b = bit;
            assertNotEquals(base, SipHash.hash24(K0 ^ (1L << bit), K1, 1, 2, 3), () -> "k0 bit " + b);
            assertNotEquals(base, SipHash.hash24(K0, K1 ^ (1L << bit), 1, 2, 3), () -> "k1 bit " + b);
        }
    }

    @Test
    void shouldRejectRangesOutsideTheArray() {
        byte[] data = new byte[16];
        assertThrows(IndexOutOfBoundsException.class, () -> SipHash.hash(K0, K1, data, 10, 7));
        assertThrows(IndexOutOfBoundsException.class, () -> SipHash.hash(K0, K1, data, -1, 4));
        assertThrows(IndexOutOfBoundsException.class, () -> SipHash.hash(K0, K1, data, 0, -1));
    }
}
