package io.synproxy.packet;

import java.lang.foreign.MemorySegment;
import java.util.HexFormat;

/**
 * Test vectors and an independent, deliberately naive RFC 1071 checksum over byte arrays (one 16-bit word at a
 * time), used to check the production code rather than to reuse it.
 */
final class Frames {
    static final HexFormat HEX = HexFormat.of();

    /**
     * A Linux SYN as it appears on the wire, built by hand (checksums computed independently in Python):
     * 02:00:00:00:00:02 -> 02:00:00:00:00:01, IPv4 192.168.1.10 -> 93.184.216.34, id 0x1c46, DF, TTL 64,
     * IP checksum 0x26e9; TCP 51234 -> 443, seq 0x9a3f12c7, SYN, window 64240, checksum 0x5437, options
     * MSS 1460, SACK_PERM, TS val 0x6b2c1f3a ecr 0, NOP, WS 7.
     */
    static final String LINUX_SYN_HEX = ""
        // Ethernet: dst, src, ethertype
        + "020000000001" + "020000000002" + "0800"
        // IPv4: 45 00 len=60 id=1c46 DF ttl=64 proto=6 csum=26e9 src dst
        + "4500003c" + "1c464000" + "400626e9" + "c0a8010a" + "5db8d822"
        // TCP: ports, seq, ack, doff=10 SYN win=64240, csum=5437 urg=0
        + "c82201bb" + "9a3f12c7" + "00000000" + "a002faf0" + "54370000"
        // options: MSS 1460 | SACK_PERM, TS | tsval | tsecr | NOP, WS 7
        + "020405b4" + "0402080a" + "6b2c1f3a" + "00000000" + "01030307";

    static final int ETH = 14;
    static final int IP_CHECKSUM = 0x26e9;
    static final int TCP_CHECKSUM = 0x5437;
    static final int SRC = 0xc0a8010a;
    static final int DST = 0x5db8d822;
    static final int SRC_PORT = 51234;
    static final int DST_PORT = 443;
    static final int SEQ = 0x9a3f12c7;
    static final int TS_VAL = 0x6b2c1f3a;

    private Frames() {
    }

    static byte[] linuxSyn() {
        return HEX.parseHex(LINUX_SYN_HEX);
    }

    static MemorySegment seg(byte[] bytes) {
        return MemorySegment.ofArray(bytes);
    }

    static int u8(byte[] b, int i) {
        return b[i] & 0xFF;
    }

    static int u16(byte[] b, int i) {
        return (u8(b, i) << 8) | u8(b, i + 1);
    }

    static void put16(byte[] b, int i, int v) {
        b[i] = (byte) (v >>> 8);
        b[i + 1] = (byte) v;
    }

    /** Naive RFC 1071 sum, one 16-bit word per step, folding after every addition. */
    static int naiveSum(byte[] b, int off, int len, int initial) {
        int sum = initial;
        for (int i = 0; i < len; i += 2) {
            final int hi = u8(b, off + i) << 8;
            final int lo = i + 1 < len ? u8(b, off + i + 1) : 0;
            sum += hi | lo;
            sum = (sum & 0xFFFF) + (sum >>> 16);
        }
        return sum;
    }

    static int naiveChecksum(byte[] b, int off, int len, int initial) {
        return ~naiveSum(b, off, len, initial) & 0xFFFF;
    }

    static int pseudoHeaderSum(byte[] b, int ipOff, int tcpLength) {
        int sum = 0;
        for (int i = 12; i < 20; i += 2) {
            sum += u16(b, ipOff + i);
        }
        return sum + 6 + tcpLength;
    }

    /** Recomputes the IPv4 header checksum of the packet at {@code ipOff} (IHL must be in bounds). */
    static byte[] fixIpChecksum(byte[] b, int ipOff) {
        final int hl = (u8(b, ipOff) & 0x0F) * 4;
        put16(b, ipOff + 10, 0);
        put16(b, ipOff + 10, naiveChecksum(b, ipOff, hl, 0));
        return b;
    }

    /** Recomputes the TCP checksum of the packet at {@code ipOff} (IHL and total length must be in bounds). */
    static byte[] fixTcpChecksum(byte[] b, int ipOff) {
        final int hl = (u8(b, ipOff) & 0x0F) * 4;
        final int tcpLength = u16(b, ipOff + 2) - hl;
        final int tcpOff = ipOff + hl;
        put16(b, tcpOff + 16, 0);
        put16(b, tcpOff + 16, naiveChecksum(b, tcpOff, tcpLength, pseudoHeaderSum(b, ipOff, tcpLength)));
        return b;
    }

    static byte[] fixChecksums(byte[] b, int ipOff) {
        return fixTcpChecksum(fixIpChecksum(b, ipOff), ipOff);
    }

    /** True when the IPv4 header checksum of the packet at {@code ipOff} verifies under the naive implementation. */
    static boolean ipChecksumVerifies(byte[] b, int ipOff) {
        return naiveSum(b, ipOff, (u8(b, ipOff) & 0x0F) * 4, 0) == 0xFFFF;
    }

    /** True when the IPv4 and TCP checksums of the packet at {@code ipOff} verify under the naive implementation. */
    static boolean checksumsVerify(byte[] b, int ipOff) {
        final int hl = (u8(b, ipOff) & 0x0F) * 4;
        final int tcpLength = u16(b, ipOff + 2) - hl;
        return naiveSum(b, ipOff, hl, 0) == 0xFFFF
            && naiveSum(b, ipOff + hl, tcpLength, pseudoHeaderSum(b, ipOff, tcpLength)) == 0xFFFF;
    }

    /** Builds the Linux SYN with {@code payload} appended (lengths and checksums fixed). */
    static byte[] linuxSynWithPayload(byte[] payload) {
        final byte[] syn = linuxSyn();
        final byte[] frame = new byte[syn.length + payload.length];
        System.arraycopy(syn, 0, frame, 0, syn.length);
        System.arraycopy(payload, 0, frame, syn.length, payload.length);
        put16(frame, ETH + 2, syn.length - ETH + payload.length);
        return fixChecksums(frame, ETH);
    }
}
