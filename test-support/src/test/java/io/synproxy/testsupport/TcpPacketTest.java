package io.synproxy.testsupport;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TcpPacketTest {
    /**
     * A Linux SYN as it appears on the wire, its checksums computed independently in Python (the vector of
     * proxy-core's packet tests): 192.168.1.10:51234 -> 93.184.216.34:443, id 0x1c46, DF, TTL 64.
     */
    private static final String LINUX_SYN = "4500003c1c464000400626e9c0a8010a5db8d822"
            + "c82201bb9a3f12c700000000a002faf054370000"
            + "020405b40402080a6b2c1f3a0000000001030307";

    @Test
    void shouldWriteALinuxSynByteForByte() {
        byte[] p = TcpPacket.between("192.168.1.10", "93.184.216.34").ipId(0x1c46).ports(51234, 443)
                .seq(0x9a3f12c7).flags(TcpPacket.SYN).window(64240).mss(1460).sackPermitted(true)
                .timestamps(0x6b2c1f3a, 0).wscale(7).bytes();
        assertEquals(LINUX_SYN, HexFormat.of().formatHex(p));
    }

    @Test
    void shouldFindTheChecksumItWroteForBothFamiliesWithPayload() {
        for (TcpPacket t : new TcpPacket[] {TcpPacket.between("10.0.0.2", "10.0.0.1"),
                TcpPacket.between("fd00::2", "fd00::1")}) {
            byte[] p = t.ports(40000, 80).seq(1).ack(2).flags(TcpPacket.ACK | TcpPacket.PSH)
                    .payload(new byte[] {1, 2, 3}).bytes();
            int tcp = t.ipHeaderLength();
            int stored = (p[tcp + 16] & 0xFF) << 8 | p[tcp + 17] & 0xFF;
            assertEquals(stored, TcpPacket.tcpChecksum(MemorySegment.ofArray(p), 0));
            p[p.length - 1] ^= 1;
            assertNotEquals(stored, TcpPacket.tcpChecksum(MemorySegment.ofArray(p), 0), "a flipped bit shows");
        }
    }

    @Test
    void shouldRestoreBothChecksumsAfterAnEditAndLeaveWhatItCannotReadAlone() {
        for (TcpPacket t : new TcpPacket[] {TcpPacket.between("10.0.0.2", "10.0.0.1"),
                TcpPacket.between("fd00::2", "fd00::1")}) {
            byte[] p = t.ports(40000, 80).seq(1).flags(TcpPacket.SYN).payload(new byte[] {1, 2, 3}).bytes();
            assertTrue(TcpPacket.checksumsValid(p, 0));
            p[t.ipHeaderLength() + 4] ^= 1;
            p[t.ipHeaderLength() - 1] ^= 1;
            assertFalse(TcpPacket.checksumsValid(p, 0), "edited sequence number and destination address");
            assertTrue(TcpPacket.checksumsValid(TcpPacket.fixChecksums(p, 0), 0));
        }
        byte[] v4 = TcpPacket.between("10.0.0.2", "10.0.0.1").ports(1, 2).bytes();
        v4[12] ^= 1;
        assertFalse(TcpPacket.ipv4HeaderChecksumValid(v4, 0));
        assertTrue(TcpPacket.ipv4HeaderChecksumValid(TcpPacket.fixIpv4HeaderChecksum(v4, 0), 0));
        assertFalse(TcpPacket.checksumsValid(v4, 0), "the header fixed alone, TCP's pseudo-header changed");

        byte[] truncated = Arrays.copyOf(TcpPacket.between("10.0.0.2", "10.0.0.1").ports(1, 2).bytes(), 30);
        byte[] before = truncated.clone();
        TcpPacket.fixChecksums(truncated, 0);
        assertArrayEquals(Arrays.copyOfRange(before, 20, 30), Arrays.copyOfRange(truncated, 20, 30),
                "TCP untouched when the total length runs past the bytes");
        byte[] badIhl = {0x41, 0, 0, 20};
        assertArrayEquals(badIhl.clone(), TcpPacket.fixChecksums(badIhl, 0), "IHL below 5: nothing written");
    }

    @Test
    void shouldPadIpv4OptionsAndTcpOptionsWithNops() {
        byte[] p = TcpPacket.between("10.0.0.2", "10.0.0.1").ports(1, 2).mss(1460).ipv4OptionWords(2).tcpNopWords(3)
                .payload(new byte[] {9}).bytes();
        assertEquals(0x47, p[0] & 0xFF, "IHL 7");
        assertEquals(28 + 36 + 1, p.length);
        assertEquals(p.length, (p[2] & 0xFF) << 8 | p[3] & 0xFF);
        assertEquals("0101010101010101", HexFormat.of().formatHex(p, 20, 28));
        assertEquals(9 << 4, p[28 + 12] & 0xFF, "data offset 9 words");
        assertEquals("020405b4010101010101010101010101", HexFormat.of().formatHex(p, 48, 64));
        assertTrue(TcpPacket.checksumsValid(p, 0));
    }

    @Test
    void shouldPrefixAnEthernetHeader() {
        byte[] dst = {2, 0, 0, 0, 0, 1};
        byte[] src = {2, 0, 0, 0, 0, 2};
        byte[] f = TcpPacket.between("fd00::2", "fd00::1").ports(1, 2).frame(dst, src);
        assertArrayEquals(dst, Arrays.copyOfRange(f, 0, 6));
        assertEquals(0x86, f[12] & 0xFF);
        assertEquals(0xDD, f[13] & 0xFF);
        assertEquals(14 + 60, f.length);
    }
}
