package io.synproxy.handshake;

import io.synproxy.packet.TcpSegment;

/**
 * What a valid final ACK proved: the 4-tuple, both sequence numbers and the options negotiated
 * through the cookie. Mutable and reused per receive loop; read it before the next packet.
 *
 * <p>Addresses of both families are also given as 128-bit pairs ({@link #clientHi()}, {@link #clientLo()}, ...):
 * an IPv6 address as it is, an IPv4 address as its IPv4-mapped form {@code ::ffff:a.b.c.d}, so a tuple of either
 * family has one key. {@link #clientAddress()} and {@link #localAddress()} are meaningful for IPv4 only.
 */
public final class AckVerdict {
    /** The high 64 bits of an IPv4-mapped IPv6 address are 0; the low 64 are this prefix or the IPv4 address. */
    public static final long MAPPED_PREFIX = TcpSegment.MAPPED_PREFIX;

    boolean ipv6;
    long clientHi;
    long clientLo;
    long localHi;
    long localLo;
    int clientPort;
    int localPort;
    int isn;
    int clientIsn;
    int mss;
    int clientWscale;
    int ourWscale;
    boolean sack;
    boolean timestamps;
    int clientTsVal;
    int ourTsVal;
    int clientWindow;
    long payloadOffset;
    int payloadLength;

    /** The low half of the IPv4-mapped IPv6 form of an IPv4 address (the high half is 0). */
    public static long mapped(int ipv4) {
        return TcpSegment.mapped(ipv4);
    }

    /** True when the handshake was IPv6 (the 128-bit addresses apply), false for IPv4. */
    public boolean ipv6() {
        return ipv6;
    }

    /** Client address bits 127..64 (0 for IPv4). */
    public long clientHi() {
        return clientHi;
    }

    /** Client address bits 63..0 (IPv4: {@link #mapped}). */
    public long clientLo() {
        return clientLo;
    }

    /** Local address bits 127..64 (0 for IPv4). */
    public long localHi() {
        return localHi;
    }

    /** Local address bits 63..0 (IPv4: {@link #mapped}). */
    public long localLo() {
        return localLo;
    }

    /** The client's IPv4 address (IPv4 only). */
    public int clientAddress() {
        return (int) clientLo;
    }

    /** The local IPv4 address (IPv4 only). */
    public int localAddress() {
        return (int) localLo;
    }

    public int clientPort() {
        return clientPort;
    }

    public int localPort() {
        return localPort;
    }

    /** Our initial sequence number: the cookie. */
    public int isn() {
        return isn;
    }

    public int clientIsn() {
        return clientIsn;
    }

    /** The client's MSS, rounded down to the cookie table. */
    public int mss() {
        return mss;
    }

    /** The client's window-scale shift (rounded down to the table), or -1 when it sent none. */
    public int clientWscale() {
        return clientWscale;
    }

    /** The shift we announced in the SYN/ACK, or -1 when window scaling is off. */
    public int ourWscale() {
        return ourWscale;
    }

    public boolean sack() {
        return sack;
    }

    public boolean timestamps() {
        return timestamps;
    }

    public int clientTsVal() {
        return clientTsVal;
    }

    /** The TSval we sent in the SYN/ACK, as the client echoes it. */
    public int ourTsVal() {
        return ourTsVal;
    }

    /** The raw (unscaled) window field of the final ACK. */
    public int clientWindow() {
        return clientWindow;
    }

    public long payloadOffset() {
        return payloadOffset;
    }

    public int payloadLength() {
        return payloadLength;
    }

    /** The client's next sequence number after what the ACK carried. */
    public int clientNextSeq() {
        return clientIsn + 1 + payloadLength;
    }

    /**
     * The same connection seen from the client's end, as if the client had verified our cookie: addresses, ports,
     * sequence numbers, window shifts and timestamps swapped, no payload. A socket built from it and one built from
     * this verdict form a connected pair (the start-up warm-up's loopback connections).
     */
    public AckVerdict reversed() {
        AckVerdict r = new AckVerdict();
        r.ipv6 = ipv6;
        r.clientHi = localHi;
        r.clientLo = localLo;
        r.localHi = clientHi;
        r.localLo = clientLo;
        r.clientPort = localPort;
        r.localPort = clientPort;
        r.isn = clientIsn;
        r.clientIsn = isn;
        r.mss = mss;
        r.clientWscale = ourWscale;
        r.ourWscale = clientWscale;
        r.sack = sack;
        r.timestamps = timestamps;
        r.clientTsVal = ourTsVal;
        r.ourTsVal = clientTsVal;
        r.clientWindow = clientWindow;
        return r;
    }
}
