package io.synproxy.testsupport;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * The tests' one packet builder: an IPv4 or IPv6 TCP segment filled in by name, written by hand with its own
 * RFC 1071 checksums (one 16-bit word at a time), so that it checks the product's parsers and writers instead of
 * reusing them. Reusable: set what changes and write again; {@link #writeTo} and {@link #writeFrameTo} allocate
 * nothing, so a flood can build its frames with it.
 *
 * <p>TCP options follow Linux's {@code tcp_options_write} layout, each group on a 4-byte boundary: MSS;
 * SACK-permitted + timestamps (or NOP NOP + timestamps, or NOP NOP + SACK-permitted); NOP + window scale.
 * IPv4: TOS 0, id 0, DF, TTL 64. IPv6: traffic class and flow label 0, hop limit 64.
 */
public final class TcpPacket {
    public static final int FIN = 0x01;
    public static final int SYN = 0x02;
    public static final int RST = 0x04;
    public static final int PSH = 0x08;
    public static final int ACK = 0x10;
    public static final int ETH_LEN = 14;
    public static final int ETHERTYPE_IPV4 = 0x0800;
    public static final int ETHERTYPE_IPV6 = 0x86DD;
    private static final byte[] NO_PAYLOAD = new byte[0];

    private final byte[] src;
    private final byte[] dst;
    private int srcPort;
    private int dstPort;
    private int seq;
    private int ack;
    private int flags;
    private int window = 64240;
    private int mss = -1;
    private int wscale = -1;
    private boolean sackPermitted;
    private boolean timestamps;
    private int tsVal;
    private int tsEcr;
    private int ttl = 64;
    private int ipId;
    private int ipv4OptionWords;
    private int tcpNopWords;
    private byte[] payload = NO_PAYLOAD;

    private TcpPacket(byte[] src, byte[] dst) {
        if (src.length != dst.length) {
            throw new IllegalArgumentException("source and destination of different families");
        }
        this.src = src.clone();
        this.dst = dst.clone();
    }

    /** A segment from {@code src} to {@code dst}, both IPv4 or both IPv6 literals (or host names). */
    public static TcpPacket between(String src, String dst) {
        try {
            return new TcpPacket(InetAddress.getByName(src).getAddress(), InetAddress.getByName(dst).getAddress());
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** An IPv4 segment between two addresses given as 32-bit numbers. */
    public static TcpPacket ipv4(int src, int dst) {
        return new TcpPacket(int4(src), int4(dst));
    }

    public boolean ipv6() {
        return src.length == 16;
    }

    /** Replaces the IPv4 source address in place (no allocation, for floods). */
    public TcpPacket srcIpv4(int address) {
        if (ipv6()) {
            throw new IllegalStateException("an IPv6 packet");
        }
        put32(src, 0, address);
        return this;
    }

    /** Replaces the IPv4 destination address in place. */
    public TcpPacket dstIpv4(int address) {
        if (ipv6()) {
            throw new IllegalStateException("an IPv6 packet");
        }
        put32(dst, 0, address);
        return this;
    }

    public TcpPacket ports(int source, int destination) {
        this.srcPort = source;
        this.dstPort = destination;
        return this;
    }

    public TcpPacket srcPort(int port) {
        this.srcPort = port;
        return this;
    }

    public TcpPacket dstPort(int port) {
        this.dstPort = port;
        return this;
    }

    public TcpPacket seq(int value) {
        this.seq = value;
        return this;
    }

    public TcpPacket ack(int value) {
        this.ack = value;
        return this;
    }

    /** The TCP flags, a combination of {@link #SYN}, {@link #ACK}, {@link #FIN}, {@link #RST}, {@link #PSH}. */
    public TcpPacket flags(int value) {
        this.flags = value;
        return this;
    }

    public TcpPacket window(int value) {
        this.window = value;
        return this;
    }

    /** The MSS option, or -1 for none. */
    public TcpPacket mss(int value) {
        this.mss = value;
        return this;
    }

    /** The window-scale option's shift, or -1 for none. */
    public TcpPacket wscale(int shift) {
        this.wscale = shift;
        return this;
    }

    public TcpPacket sackPermitted(boolean on) {
        this.sackPermitted = on;
        return this;
    }

    /** The timestamps option with these values. */
    public TcpPacket timestamps(int val, int ecr) {
        this.timestamps = true;
        this.tsVal = val;
        this.tsEcr = ecr;
        return this;
    }

    public TcpPacket noTimestamps() {
        this.timestamps = false;
        return this;
    }

    /** No options at all. */
    public TcpPacket noOptions() {
        mss = -1;
        wscale = -1;
        sackPermitted = false;
        timestamps = false;
        return this;
    }

    /** The IPv4 identification field (0 by default, as Linux sends with DF). */
    public TcpPacket ipId(int value) {
        this.ipId = value;
        return this;
    }

    /** IPv4 options: this many 4-byte words of NOPs, so the IHL is 5 plus {@code words} (0 to 10). */
    public TcpPacket ipv4OptionWords(int words) {
        this.ipv4OptionWords = words;
        return this;
    }

    /** This many 4-byte words of NOP options after the others, to make a longer TCP header. */
    public TcpPacket tcpNopWords(int words) {
        this.tcpNopWords = words;
        return this;
    }

    /** IPv4 TTL or IPv6 hop limit. */
    public TcpPacket ttl(int value) {
        this.ttl = value;
        return this;
    }

    public TcpPacket payload(byte[] bytes) {
        this.payload = bytes.clone();
        return this;
    }

    public int ipHeaderLength() {
        return ipv6() ? 40 : 20 + 4 * ipv4OptionWords;
    }

    public int tcpHeaderLength() {
        return 20 + optionsLength();
    }

    /** Length of the IP packet: IP header, TCP header with options, payload. */
    public int length() {
        return ipHeaderLength() + tcpHeaderLength() + payload.length;
    }

    /** The IP packet as a new array. */
    public byte[] bytes() {
        byte[] out = new byte[length()];
        writeTo(MemorySegment.ofArray(out), 0);
        return out;
    }

    /** The Ethernet frame as a new array. */
    public byte[] frame(byte[] dstMac, byte[] srcMac) {
        byte[] out = new byte[ETH_LEN + length()];
        writeFrameTo(MemorySegment.ofArray(out), 0, dstMac, srcMac);
        return out;
    }

    /** Writes the Ethernet header and the packet at {@code off}; returns the frame's length. */
    public int writeFrameTo(MemorySegment seg, long off, byte[] dstMac, byte[] srcMac) {
        for (int i = 0; i < 6; i++) {
            seg.set(ValueLayout.JAVA_BYTE, off + i, dstMac[i]);
            seg.set(ValueLayout.JAVA_BYTE, off + 6 + i, srcMac[i]);
        }
        put16(seg, off + 12, ipv6() ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
        return ETH_LEN + writeTo(seg, off + ETH_LEN);
    }

    /** Writes the IP packet at {@code off}, both checksums included; returns its length. */
    public int writeTo(MemorySegment seg, long off) {
        int ipLen = ipHeaderLength();
        int tcpLen = tcpHeaderLength() + payload.length;
        if (ipv6()) {
            put32(seg, off, 6 << 28);
            put16(seg, off + 4, tcpLen);
            put8(seg, off + 6, 6);
            put8(seg, off + 7, ttl);
        } else {
            put32(seg, off, 0x4000_0000 | (ipLen / 4) << 24 | (ipLen + tcpLen));
            put32(seg, off + 4, ipId << 16 | 0x4000); // DF
            put8(seg, off + 8, ttl);
            put8(seg, off + 9, 6);
            put16(seg, off + 10, 0);
        }
        int addrOff = ipv6() ? 8 : 12;
        for (int i = 0; i < src.length; i++) {
            seg.set(ValueLayout.JAVA_BYTE, off + addrOff + i, src[i]);
            seg.set(ValueLayout.JAVA_BYTE, off + addrOff + src.length + i, dst[i]);
        }
        if (!ipv6()) {
            for (int i = 20; i < ipLen; i++) {
                put8(seg, off + i, 1); // NOP
            }
            put16(seg, off + 10, checksum(seg, off, ipLen, 0));
        }
        long t = off + ipLen;
        put16(seg, t, srcPort);
        put16(seg, t + 2, dstPort);
        put32(seg, t + 4, seq);
        put32(seg, t + 8, ack);
        put8(seg, t + 12, (tcpHeaderLength() / 4) << 4);
        put8(seg, t + 13, flags);
        put16(seg, t + 14, window);
        put16(seg, t + 16, 0);
        put16(seg, t + 18, 0);
        writeOptions(seg, t + 20);
        for (int i = 0; i < payload.length; i++) {
            seg.set(ValueLayout.JAVA_BYTE, t + tcpHeaderLength() + i, payload[i]);
        }
        put16(seg, t + 16, tcpChecksum(seg, off));
        return ipLen + tcpLen;
    }

    /**
     * The TCP checksum the IPv4 or IPv6 packet at {@code ipOff} should carry (its own checksum field counted as
     * zero). Equal to the field when the packet is intact.
     */
    public static int tcpChecksum(MemorySegment seg, long ipOff) {
        boolean v6 = (get8(seg, ipOff) >>> 4) == 6;
        int ipLen = v6 ? 40 : (get8(seg, ipOff) & 0x0F) * 4;
        int tcpLen = v6 ? get16(seg, ipOff + 4) : get16(seg, ipOff + 2) - ipLen;
        int addrOff = v6 ? 8 : 12;
        int addrLen = v6 ? 32 : 8;
        int pseudo = onesComplementSum(seg, ipOff + addrOff, addrLen, 0);
        pseudo = fold(pseudo + 6);
        pseudo = fold(pseudo + (tcpLen >>> 16));
        pseudo = fold(pseudo + (tcpLen & 0xFFFF));
        long tcp = ipOff + ipLen;
        // Everything but the checksum field itself (bytes 16 and 17 of the header).
        int all = onesComplementSum(seg, tcp + 18, tcpLen - 18, onesComplementSum(seg, tcp, 16, pseudo));
        return ~all & 0xFFFF;
    }

    /** The RFC 1071 checksum of {@code len} bytes at {@code off}, starting from the partial sum {@code initial}. */
    public static int checksum(MemorySegment seg, long off, int len, int initial) {
        return ~onesComplementSum(seg, off, len, initial) & 0xFFFF;
    }

    /** The header checksum the IPv4 packet at {@code ipOff} should carry (its own field counted as zero). */
    public static int ipv4HeaderChecksum(MemorySegment seg, long ipOff) {
        int ihl = (get8(seg, ipOff) & 0x0F) * 4;
        return ~onesComplementSum(seg, ipOff + 12, ihl - 12, onesComplementSum(seg, ipOff, 10, 0)) & 0xFFFF;
    }

    /** Rewrites the IPv4 header checksum of the packet at {@code ipOff} (IHL must be in bounds); returns {@code b}. */
    public static byte[] fixIpv4HeaderChecksum(byte[] b, int ipOff) {
        MemorySegment seg = MemorySegment.ofArray(b);
        put16(seg, ipOff + 10, ipv4HeaderChecksum(seg, ipOff));
        return b;
    }

    /**
     * Rewrites the checksums of a packet someone edited, as far as its own headers allow: for IPv4 the header
     * checksum when the IHL is at least 5 and in bounds, then the TCP checksum when the total length covers a TCP
     * header and stays in bounds; for IPv6 the TCP checksum under the same length rule. Anything else is left as it
     * is, so fuzzed bytes can go through it (it never throws). Returns {@code b}.
     */
    public static byte[] fixChecksums(byte[] b, int ipOff) {
        MemorySegment seg = MemorySegment.ofArray(b);
        if (b.length < ipOff + 1) {
            return b;
        }
        int version = get8(seg, ipOff) >>> 4;
        int ipLen;
        int total;
        if (version == 4) {
            ipLen = (get8(seg, ipOff) & 0x0F) * 4;
            if (ipLen < 20 || ipOff + ipLen > b.length) {
                return b;
            }
            put16(seg, ipOff + 10, ipv4HeaderChecksum(seg, ipOff));
            total = get16(seg, ipOff + 2);
        } else if (version == 6 && ipOff + 40 <= b.length) {
            ipLen = 40;
            total = 40 + get16(seg, ipOff + 4);
        } else {
            return b;
        }
        if (total >= ipLen + 20 && ipOff + total <= b.length) {
            put16(seg, ipOff + ipLen + 16, tcpChecksum(seg, ipOff));
        }
        return b;
    }

    /** True when the IPv4 header checksum of the packet at {@code ipOff} verifies. */
    public static boolean ipv4HeaderChecksumValid(byte[] b, int ipOff) {
        MemorySegment seg = MemorySegment.ofArray(b);
        return ipv4HeaderChecksum(seg, ipOff) == get16(seg, ipOff + 10);
    }

    /** True when the TCP checksum of the IPv4 or IPv6 packet at {@code ipOff} verifies, and the IPv4 header's. */
    public static boolean checksumsValid(byte[] b, int ipOff) {
        MemorySegment seg = MemorySegment.ofArray(b);
        boolean v6 = (get8(seg, ipOff) >>> 4) == 6;
        int ipLen = v6 ? 40 : (get8(seg, ipOff) & 0x0F) * 4;
        return (v6 || ipv4HeaderChecksumValid(b, ipOff))
                && tcpChecksum(seg, ipOff) == get16(seg, ipOff + ipLen + 16);
    }

    private int optionsLength() {
        int n = 0;
        if (mss >= 0) {
            n += 4;
        }
        if (timestamps) {
            n += 12;
        } else if (sackPermitted) {
            n += 4;
        }
        if (wscale >= 0) {
            n += 4;
        }
        return n + 4 * tcpNopWords;
    }

    private void writeOptions(MemorySegment seg, long o) {
        if (mss >= 0) {
            put32(seg, o, 0x0204_0000 | (mss & 0xFFFF));
            o += 4;
        }
        if (timestamps) {
            put32(seg, o, sackPermitted ? 0x0402_080A : 0x0101_080A);
            put32(seg, o + 4, tsVal);
            put32(seg, o + 8, tsEcr);
            o += 12;
        } else if (sackPermitted) {
            put32(seg, o, 0x0101_0402);
            o += 4;
        }
        if (wscale >= 0) {
            put32(seg, o, 0x0103_0300 | (wscale & 0xFF));
            o += 4;
        }
        for (int i = 0; i < tcpNopWords; i++) {
            put32(seg, o + 4L * i, 0x0101_0101);
        }
    }

    /**
     * Naive ones' complement sum, one 16-bit word per step, folding after every addition; an odd last byte is
     * padded with zero (RFC 1071). Folded to 16 bits.
     */
    public static int onesComplementSum(MemorySegment seg, long off, int len, int initial) {
        int s = initial;
        for (int i = 0; i < len; i += 2) {
            int hi = get8(seg, off + i) << 8;
            int lo = i + 1 < len ? get8(seg, off + i + 1) : 0;
            s = fold(s + (hi | lo));
        }
        return s;
    }

    private static int fold(int s) {
        return (s & 0xFFFF) + (s >>> 16);
    }

    private static int get8(MemorySegment seg, long at) {
        return seg.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
    }

    private static int get16(MemorySegment seg, long at) {
        return get8(seg, at) << 8 | get8(seg, at + 1);
    }

    private static void put8(MemorySegment seg, long at, int v) {
        seg.set(ValueLayout.JAVA_BYTE, at, (byte) v);
    }

    private static void put16(MemorySegment seg, long at, int v) {
        put8(seg, at, v >>> 8);
        put8(seg, at + 1, v);
    }

    private static void put32(MemorySegment seg, long at, int v) {
        put16(seg, at, v >>> 16);
        put16(seg, at + 2, v);
    }

    private static void put32(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    private static byte[] int4(int v) {
        byte[] b = new byte[4];
        put32(b, 0, v);
        return b;
    }
}
