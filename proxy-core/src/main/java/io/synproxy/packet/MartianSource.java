package io.synproxy.packet;

/**
 * Source addresses no TCP peer may have (RFC 1122 3.2.1.3, RFC 4291): a segment from one is dropped and counted,
 * never answered, as the kernel's own TCP does (ip_route_input's martian checks, ipv6_rcv, tcp_v6_conn_request).
 * Answering would send a SYN/ACK to a multicast group, to a broadcast address, or to ourselves.
 *
 * <p>The caller skips the check for frames that came in on the loopback interface, where a local client
 * legitimately has our address or 127/8 as its source.
 */
public final class MartianSource {
    private static final long IPV4_MAPPED_PREFIX = 0x0000_ffffL;

    private MartianSource() {
    }

    /** Whether the parsed segment's source is martian, for its family. */
    public static boolean of(TcpSegment s) {
        return s.ipv6() ? ipv6(s.srcHi(), s.srcLo(), s.dstHi(), s.dstLo()) : ipv4(s.src(), s.dst());
    }

    /**
     * IPv4: 0.0.0.0/8 ("this network"), 127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast), 240.0.0.0/4 (class E,
     * with 255.255.255.255, the limited broadcast), or the address the segment was sent to (ours).
     */
    public static boolean ipv4(int src, int dst) {
        int firstOctet = src >>> 24;
        return firstOctet == 0 || firstOctet == 127 || firstOctet >= 224 || src == dst;
    }

    /**
     * IPv6: :: (unspecified), ::1 (loopback), ff00::/8 (multicast), ::ffff:0:0/96 (IPv4-mapped, never on the
     * wire), or the address the segment was sent to (ours).
     */
    public static boolean ipv6(long srcHi, long srcLo, long dstHi, long dstLo) {
        if (srcHi == 0 && (srcLo == 0 || srcLo == 1 || srcLo >>> 32 == IPV4_MAPPED_PREFIX)) {
            return true;
        }
        return srcHi >>> 56 == 0xff || (srcHi == dstHi && srcLo == dstLo);
    }
}
