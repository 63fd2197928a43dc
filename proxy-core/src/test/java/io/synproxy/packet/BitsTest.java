package io.synproxy.packet;

import io.synproxy.testsupport.TcpPacket;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BitsTest {

    private static final byte[] RFC1071_EXAMPLE = Frames.HEX.parseHex("0001f203f4f5f6f7");

    @Test
    void shouldSumRfc1071ExampleTo0xddf2() {
        assertEquals(0xddf2, Bits.onesComplementSum(Frames.seg(RFC1071_EXAMPLE), 0, 8, 0));
    }

    @Test
    void shouldComplementRfc1071ExampleTo0x220d() {
        assertEquals(0x220d, Bits.fold(Bits.onesComplementSum(Frames.seg(RFC1071_EXAMPLE), 0, 8, 0)) & 0xFFFF);
    }

    @Test
    void shouldReproduceTheVectorChecksumsComputedElsewhere() {
        final byte[] syn = Frames.linuxSyn();
        final MemorySegment seg = Frames.seg(syn);
        Frames.put16(syn, Frames.ETH + 10, 0);
        assertEquals(Frames.IP_CHECKSUM, Bits.fold(Bits.onesComplementSum(seg, Frames.ETH, 20, 0)) & 0xFFFF);
    }

    @Test
    void shouldPadAnOddTrailingByteAsTheHighByte() {
        assertEquals(0x1200, Bits.onesComplementSum(Frames.seg(new byte[] {0x12}), 0, 1, 0));
        assertEquals(0x1234 + 0x5600, Bits.onesComplementSum(Frames.seg(new byte[] {0x12, 0x34, 0x56}), 0, 3, 0));
    }

    @Test
    void shouldReturnInitialForEmptyRange() {
        assertEquals(0, Bits.onesComplementSum(Frames.seg(new byte[0]), 0, 0, 0));
        assertEquals(0x1234, Bits.onesComplementSum(Frames.seg(new byte[0]), 0, 0, 0x1234));
        assertEquals(0x0002, Bits.onesComplementSum(Frames.seg(new byte[0]), 0, 0, 0x0001_0001));
    }

    @Test
    void shouldTreatInitialAsUnsigned32Bits() {
        // 0xFFFFFFFF == 0xFFFF + 0xFFFF -> folds to 0xFFFF
        assertEquals(0xFFFF, Bits.onesComplementSum(Frames.seg(new byte[0]), 0, 0, -1));
    }

    /** A positive sum never folds to 0, so both implementations must agree exactly, not just modulo +0/-0. */
    @Test
    void shouldMatchNaiveSumForEveryLengthOffsetAndInitial() {
        final SplittableRandom random = new SplittableRandom(1071);
        final byte[] data = new byte[256];
        for (int round = 0; round < 20; round++) {
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) random.nextInt(256);
            }
            final MemorySegment seg = Frames.seg(data);
            for (int off = 0; off < 9; off++) {
                for (int len = 0; len + off <= 140; len++) {
                    final int initial = random.nextInt(0x10000);
                    final int expected = TcpPacket.onesComplementSum(seg, off, len, initial);
                    final int actual = Bits.onesComplementSum(seg, off, len, initial);
                    assertEquals(expected, actual, "off=" + off + " len=" + len);
                }
            }
        }
    }

    @Test
    void shouldChainPartialSumsWithOnlyTheLastChunkOdd() {
        final byte[] data = Frames.linuxSyn();
        final MemorySegment seg = Frames.seg(data);
        final int whole = Bits.onesComplementSum(seg, 0, 73, 0);
        final int first = Bits.onesComplementSum(seg, 0, 30, 0);
        final int chained = Bits.onesComplementSum(seg, 30, 43, first);
        assertEquals(whole, chained);
    }

    @Test
    void shouldNotOverflowOnLargeAllOnesBuffers() {
        final byte[] data = new byte[65_535];
        Arrays.fill(data, (byte) 0xFF);
        final MemorySegment seg = Frames.seg(data);
        final int even = Bits.onesComplementSum(seg, 0, 65_534, -1);
        assertEquals(0xFFFF, even);
        assertEquals(0, Bits.fold(even));
        // odd: 0xFFFF words (== 0) plus a trailing 0xFF00
        assertEquals(0xFF00, Bits.onesComplementSum(seg, 0, 65_535, -1));
        assertEquals(TcpPacket.onesComplementSum(seg, 0, 65_535, 0), Bits.onesComplementSum(seg, 0, 65_535, 0));
    }

    @Test
    void shouldReadNativeSegmentsToo() {
        try (var arena = Arena.ofConfined()) {
            final MemorySegment seg = arena.allocate(RFC1071_EXAMPLE.length + 3);
            MemorySegment.copy(Frames.seg(RFC1071_EXAMPLE), 0, seg, 3, RFC1071_EXAMPLE.length);
            assertEquals(0xddf2, Bits.onesComplementSum(seg, 3, 8, 0));
        }
    }

    @Test
    void shouldFoldCarriesBeforeComplementing() {
        assertEquals((short) ~0xddf2, Bits.fold(0xddf2));
        assertEquals((short) 0xFFFE, Bits.fold(0x0001_0000)); // 0x10000 -> 0x0001 -> ~ = 0xFFFE
        assertEquals((short) 0, Bits.fold(0x0000_FFFF));
        assertEquals((short) 0, Bits.fold(0x0001_FFFE)); // 0xFFFE + 1 = 0xFFFF
        assertEquals((short) 0, Bits.fold(-1)); // as unsigned 32 bits
        assertEquals((short) 0, Bits.fold(0xFFFF_FFFF_FFFFL));
        assertEquals((short) 0xFFFF, Bits.fold(0L));
    }

    @Test
    void shouldCompareSequenceNumbersModulo2To32() {
        assertTrue(Bits.seqLt(1, 2));
        assertFalse(Bits.seqLt(2, 1));
        assertFalse(Bits.seqLt(5, 5));
        assertTrue(Bits.seqLt(0xFFFF_FFF0, 0x10)); // across the wrap
        assertFalse(Bits.seqLt(0x10, 0xFFFF_FFF0));
        assertTrue(Bits.seqLt(0xFFFF_FFFF, 0));
        assertTrue(Bits.seqLt(Integer.MAX_VALUE, Integer.MIN_VALUE));
        assertTrue(Bits.seqLt(-1, 0x7FFF_FFFE));
    }

    @Test
    void shouldReadUnsignedValues() {
        assertEquals(0xFFFF_FFFFL, Bits.u32(-1));
        assertEquals(0x8000_0000L, Bits.u32(Integer.MIN_VALUE));
        assertEquals(0x1234L, Bits.u32(0x1234));
        assertEquals(0xFFFF, Bits.u16((short) -1));
        assertEquals(0x8000, Bits.u16(Short.MIN_VALUE));
        assertEquals(0xFF, Bits.u8((byte) -1));
    }
}
