package io.synproxy.cookie;

import java.util.Objects;

/**
 * Mints and checks SYN cookies: the initial sequence number we put in our SYN-ACK, which lets the
 * final ACK of the handshake be validated without having kept any per-connection state.
 *
 * <p>ISN layout (bit 31 on the left):
 * <pre>
 *  31                                       9 8        5 4      2   1     0
 * +------------------------------------------+----------+--------+------+--------+
 * |               MAC (23 bits)              |  wscale  |  MSS   | SACK | parity |
 * |                                          | idx (4)  |  idx   |      |        |
 * +------------------------------------------+----------+--------+------+--------+
 * </pre>
 * <ul>
 *   <li>bit 0: parity, the {@link KeyRing} slot whose key made the MAC;</li>
 *   <li>bit 1: the client sent SACK-permitted;</li>
 *   <li>bits 2..4: {@link CookieTables#mssIndex MSS index}; bits 5..8: {@link CookieTables#wscaleIndex window-scale
 *   index} (0: no option, 1..15: the client's exact shift 0..14 plus one);</li>
 *   <li>bits 9..31: the <em>top</em> 23 bits of SipHash-2-4 under the slot's key.</li>
 * </ul>
 * The low nine bits ("option bits") are plaintext but are themselves part of the MACed message, so tampering with
 * them, parity included, invalidates the cookie.
 *
 * <p>Why the exact shift costs a MAC bit: a shift rounded down under-estimates the client's window up to 16
 * times (RFC 7323 wants the exact shift), and Linux's other place for it, the low bits of our TSval, exists only
 * when the client offers timestamps (Windows does not by default), which would lose window scaling for exactly
 * the clients whose cookies keep it here. The MSS index cannot shrink (the table must reach below 536 for
 * RFC 9293 MUST-16), the parity bit saves a second hash per invalid ACK, so the MAC gives the bit.
 *
 * <p>MAC: SipHash-2-4 of the 4-tuple and the option bits (one hash), bound to the client's ISN by a
 * public bijection: {@code MAC = top24(SipHash(key, message)) XOR top24(clientIsn * 0x9E3779B1)}. The ISN
 * is left out of the hash so that one hash checks both forms a valid handshake ACK can take: the
 * final ACK ({@code clientIsn = seq - 1}) and the client's zero-window probe ({@code clientIsn = seq}),
 * see {@link #verifyAck}. An ACK flood therefore costs one hash per packet. (Like Linux's cookies,
 * which add the client's sequence number to the hash: whoever sees one SYN/ACK for a 4-tuple can mint
 * cookies for that 4-tuple with other ISNs in the same key period, but seeing it means receiving the
 * tuple's traffic, which already lets one complete a handshake from it.)
 *
 * <p>Hashed message, IPv4 ({@link SipHash#hash24}, 24 bytes):
 * <pre>
 * m0 = saddr &lt;&lt; 32 | daddr                          (unsigned 32-bit addresses)
 * m1 = sport &lt;&lt; 48 | dport &lt;&lt; 32                    (unsigned 16-bit ports)
 * m2 = option bits (ISN bits 0..8)
 * </pre>
 * IPv6 ({@link SipHash#hash48}, 48 bytes; the distinct length keeps the two families' messages apart):
 * <pre>
 * m0 = saddr bits 127..64   m1 = saddr bits 63..0
 * m2 = daddr bits 127..64   m3 = daddr bits 63..0
 * m4 = sport &lt;&lt; 48 | dport &lt;&lt; 32
 * m5 = option bits
 * </pre>
 * Here {@code s*} is the client (source of the SYN) and {@code d*} is us. Ports are taken modulo 2^16.
 *
 * <p>With 23 MAC bits a blind forger is accepted with probability 2^-23 per guess (2^-22 for a payload-less
 * ACK, which may be either form; Linux's cookies: 2^-24 per guess, the ISN's top 8 bits being a counter); the generation
 * rotation in {@link KeyRing} bounds how long any single cookie stays valid.
 *
 * <p>Neither encoding nor verifying allocates. Thread confinement follows the {@link KeyRing}:
 * use one {@code SynCookie} per ring, one ring per thread.
 */
public final class SynCookie {
    /** The low ISN bits that carry the options in plaintext: parity, SACK, MSS index, window-scale index. */
    public static final int OPTION_BITS = 0x1ff;
    /** Set in {@link #verifyAck}'s result when the segment matched as a zero-window probe. */
    public static final int PROBE = 0x200;
    private static final int MAC_SHIFT = 9;
    /** The MAC is the top 23 bits of the 64-bit SipHash tag. */
    private static final int TAG_TO_MAC_SHIFT = 64 - 23;

    private final KeyRing ring;

    public SynCookie(KeyRing ring) {
        this.ring = Objects.requireNonNull(ring, "ring");
    }

    /**
     * Our ISN for a SYN from {@code saddr:sport} to {@code daddr:dport} carrying sequence number {@code clientIsn},
     * minted with the ring's current key.
     *
     * @param mssIdx    0..7, from {@link CookieTables#mssIndex}
     * @param wscaleIdx 0..15, from {@link CookieTables#wscaleIndex}
     * @throws IllegalArgumentException if an index is outside its range
     */
    public int encode(int saddr, int daddr, int sport, int dport, int clientIsn,
                      int mssIdx, int wscaleIdx, boolean sack) {
        int bits = optionBits(mssIdx, wscaleIdx, sack, ring.currentParity());
        return mac4(saddr, daddr, sport, dport, clientIsn, bits) << MAC_SHIFT | bits;
    }

    /**
     * Checks the cookie returned in the handshake's final ACK. Pass the SYN's values, i.e.
     * {@code clientIsn = ack.seq - 1} and {@code isn = ack.ackSeq - 1}, with the same address and port
     * orientation as {@link #encode} (client first).
     *
     * @return the option bits (ISN bits 0..8, so {@code >= 0}) to decode with {@link #mssIndexOf} and friends,
     *         or {@code -1} if the MAC does not match (forged, altered, or older than the ring's two generations)
     */
    public int verify(int saddr, int daddr, int sport, int dport, int clientIsn, int isn) {
        ring.refresh();
        int bits = isn & OPTION_BITS;
        int p = bits & 1;
        int bound = bindIsn(clientIsn);
        if ((hash4(ring.k0(p), ring.k1(p), saddr, daddr, sport, dport, bits) ^ bound) == isn >>> MAC_SHIFT) {
            return bits;
        }
        return ring.hasValidateOnly()
                && (hash4(ring.v0(p), ring.v1(p), saddr, daddr, sport, dport, bits) ^ bound) == isn >>> MAC_SHIFT
                ? bits : -1;
    }

    /**
     * Checks a segment that completes a handshake, with one SipHash: the final ACK ({@code clientIsn = seq - 1})
     * or, when {@code probeAllowed} (no payload), the zero-window probe a client sends after its final ACK was
     * lost ({@code clientIsn = seq}). The two forms never both match.
     *
     * @param seq the segment's sequence number; {@code isn = ack - 1}
     * @return {@code -1} if neither form matches; otherwise the option bits, with {@link #PROBE} added for the
     *         probe form
     */
    public int verifyAck(int saddr, int daddr, int sport, int dport, int seq, int isn, boolean probeAllowed) {
        ring.refresh();
        int bits = isn & OPTION_BITS;
        int p = bits & 1;
        int r = match(hash4(ring.k0(p), ring.k1(p), saddr, daddr, sport, dport, bits), seq, isn, probeAllowed);
        if (r >= 0 || !ring.hasValidateOnly()) {
            return r;
        }
        // The validate-only secret of a rotation: one more hash, only for ACKs the active secret refused.
        return match(hash4(ring.v0(p), ring.v1(p), saddr, daddr, sport, dport, bits), seq, isn, probeAllowed);
    }

    /** IPv6 counterpart of {@link #verifyAck}. */
    public int verifyAck6(long sHi, long sLo, long dHi, long dLo, int sport, int dport, int seq, int isn,
                          boolean probeAllowed) {
        ring.refresh();
        int bits = isn & OPTION_BITS;
        int p = bits & 1;
        int r = match(hash6(ring.k0(p), ring.k1(p), sHi, sLo, dHi, dLo, sport, dport, bits), seq, isn,
                probeAllowed);
        if (r >= 0 || !ring.hasValidateOnly()) {
            return r;
        }
        return match(hash6(ring.v0(p), ring.v1(p), sHi, sLo, dHi, dLo, sport, dport, bits), seq, isn, probeAllowed);
    }

    private static int match(int hash, int seq, int isn, boolean probeAllowed) {
        int mac = isn >>> MAC_SHIFT;
        int bits = isn & OPTION_BITS;
        if ((hash ^ bindIsn(seq - 1)) == mac) {
            return bits;
        }
        if (probeAllowed && (hash ^ bindIsn(seq)) == mac) {
            return bits | PROBE;
        }
        return -1;
    }

    /** IPv6 counterpart of {@link #encode}; addresses are given as high and low 64-bit halves (network order). */
    public int encode6(long sHi, long sLo, long dHi, long dLo, int sport, int dport, int clientIsn,
                       int mssIdx, int wscaleIdx, boolean sack) {
        int bits = optionBits(mssIdx, wscaleIdx, sack, ring.currentParity());
        return mac6(sHi, sLo, dHi, dLo, sport, dport, clientIsn, bits) << MAC_SHIFT | bits;
    }

    /** MSS index (0..7) from option bits or a whole ISN. */
    public static int mssIndexOf(int bits) {
        return (bits >>> 2) & 7;
    }

    /** Window-scale index (0..15) from option bits or a whole ISN. */
    public static int wscaleIndexOf(int bits) {
        return (bits >>> 5) & 15;
    }

    /** Whether the client sent SACK-permitted, from option bits or a whole ISN. */
    public static boolean sackOf(int bits) {
        return (bits & 2) != 0;
    }

    private static int optionBits(int mssIdx, int wscaleIdx, boolean sack, int parity) {
        if ((mssIdx >>> 3) != 0 || (wscaleIdx >>> 4) != 0) {
            throw new IllegalArgumentException("indices must be 0..7 (mss) and 0..15 (wscale): mss " + mssIdx
                    + ", wscale " + wscaleIdx);
        }
        return wscaleIdx << 5 | mssIdx << 2 | (sack ? 2 : 0) | parity;
    }

    private int mac4(int saddr, int daddr, int sport, int dport, int clientIsn, int bits) {
        int p = bits & 1;
        return hash4(ring.k0(p), ring.k1(p), saddr, daddr, sport, dport, bits) ^ bindIsn(clientIsn);
    }

    private int mac6(long sHi, long sLo, long dHi, long dLo, int sport, int dport, int clientIsn, int bits) {
        int p = bits & 1;
        return hash6(ring.k0(p), ring.k1(p), sHi, sLo, dHi, dLo, sport, dport, bits) ^ bindIsn(clientIsn);
    }

    /** Top 23 bits of SipHash over the 4-tuple and the option bits, under key {@code (k0, k1)}. */
    private static int hash4(long k0, long k1, int saddr, int daddr, int sport, int dport, int bits) {
        long m0 = (saddr & 0xffffffffL) << 32 | (daddr & 0xffffffffL);
        long m1 = ports(sport, dport);
        return (int) (SipHash.hash24(k0, k1, m0, m1, bits) >>> TAG_TO_MAC_SHIFT);
    }

    private static int hash6(long k0, long k1, long sHi, long sLo, long dHi, long dLo, int sport, int dport,
                             int bits) {
        return (int) (SipHash.hash48(k0, k1, sHi, sLo, dHi, dLo, ports(sport, dport), bits) >>> TAG_TO_MAC_SHIFT);
    }

    /**
     * The client ISN's 23-bit contribution to the MAC: a multiplication by an odd constant (a bijection of
     * the 32 bits), top 23 bits, so every ISN bit counts. Consecutive ISNs never map to the same value.
     */
    static int bindIsn(int clientIsn) {
        return (clientIsn * 0x9E3779B1) >>> MAC_SHIFT;
    }

    private static long ports(int sport, int dport) {
        return (long) (sport & 0xffff) << 48 | (long) (dport & 0xffff) << 32;
    }
}
