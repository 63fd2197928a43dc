package io.synproxy.packet;

import io.synproxy.testsupport.TcpPacket;

import java.lang.foreign.MemorySegment;
import java.util.HexFormat;

/**
 * The test vector (a Linux SYN written out by hand) and byte helpers. Packets built or fixed up go through
 * test-support's {@link TcpPacket}, whose checksums are independent of the production code.
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

    static final byte[] DST_MAC = {2, 0, 0, 0, 0, 1};
    static final byte[] SRC_MAC = {2, 0, 0, 0, 0, 2};
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

    /**
     * Parses the IPv4 packet behind a frame's Ethernet header. The tests' vector is a frame; the product parses IP
     * packets (its capture socket is SOCK_DGRAM), so the Ethernet header is only stepped over here.
     */
    static Reject parseFrame(TcpSegment parser, MemorySegment seg, long frameOffset, int captured, boolean verify) {
        return parser.parse4(seg, frameOffset + ETH, captured - ETH, verify);
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

    /**
     * The Linux SYN with {@code payload} appended, from the tests' packet builder (an empty payload gives the vector
     * itself, which {@code TcpSegmentIpv4Test} checks).
     */
    static byte[] linuxSynWithPayload(byte[] payload) {
        return TcpPacket.ipv4(SRC, DST).ports(SRC_PORT, DST_PORT).seq(SEQ).flags(TcpPacket.SYN).window(64240)
            .mss(1460).sackPermitted(true).timestamps(TS_VAL, 0).wscale(7).ipId(0x1c46).payload(payload)
            .frame(DST_MAC, SRC_MAC);
    }
}
