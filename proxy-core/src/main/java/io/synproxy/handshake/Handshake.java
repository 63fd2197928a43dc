package io.synproxy.handshake;

import io.synproxy.cookie.CookieTables;
import io.synproxy.cookie.SynCookie;
import io.synproxy.packet.Ipv4TcpParser;
import io.synproxy.packet.Ipv4TcpWriter;
import io.synproxy.packet.Ipv6TcpParser;
import io.synproxy.packet.Ipv6TcpWriter;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpOptions;

import java.lang.foreign.MemorySegment;

/**
 * The stateless half of the proxy: SYN in, SYN/ACK bytes out; final ACK in, verdict out.
 * Nothing here allocates or keeps per-flow state. One instance per receive loop.
 *
 * <p>The SYN/ACK advertises a zero window so that the client cannot send data before the
 * handed-off socket exists (the first-data race); the caller opens the window after the handoff.
 */
public final class Handshake {
    /** RFC 8200 minimum link MTU 1280 minus 60 bytes of headers: the MSS assumed for an IPv6 SYN without one. */
    public static final int IPV6_DEFAULT_MSS = 1220;

    private final SynCookie cookies;
    private final Ipv4TcpWriter writer = new Ipv4TcpWriter();
    private final Ipv6TcpWriter writer6 = new Ipv6TcpWriter();
    private final int ourMss;
    private final int ourMss6;
    private final int ourWscale;
    private final int synAckWindow;

    /**
     * @param ourMss the MSS we announce (the interface MTU minus 40)
     * @param ourWscale the receive window shift we announce when the client scales (what the kernel would pick)
     * @param zeroWindow whether the SYN/ACK advertises window 0 until the handoff is done
     */
    public Handshake(SynCookie cookies, int ourMss, int ourWscale, boolean zeroWindow) {
        this(cookies, ourMss, ourMss - 20, ourWscale, zeroWindow);
    }

    /**
     * @param ourMss the MSS we announce over IPv4 (the interface MTU minus 40)
     * @param ourMss6 the MSS we announce over IPv6 (the interface MTU minus 60)
     * @param ourWscale the receive window shift we announce when the client scales (what the kernel would pick)
     * @param zeroWindow whether the SYN/ACK advertises window 0 until the handoff is done
     */
    public Handshake(SynCookie cookies, int ourMss, int ourMss6, int ourWscale, boolean zeroWindow) {
        this.cookies = cookies;
        this.ourMss = ourMss;
        this.ourMss6 = ourMss6;
        this.ourWscale = ourWscale;
        this.synAckWindow = zeroWindow ? 0 : 65535;
    }

    public int ourWscale() {
        return ourWscale;
    }

    /** True for a SYN without ACK, RST or FIN. */
    public static boolean isSyn(int flags) {
        return (flags & (TcpFlyweight.SYN | TcpFlyweight.ACK | TcpFlyweight.RST | TcpFlyweight.FIN)) == TcpFlyweight.SYN;
    }

    /** True for a segment that may be a final ACK: ACK set; SYN, RST and FIN clear. */
    public static boolean isAck(int flags) {
        return (flags & (TcpFlyweight.SYN | TcpFlyweight.ACK | TcpFlyweight.RST | TcpFlyweight.FIN)) == TcpFlyweight.ACK;
    }

    /**
     * Writes the cookie SYN/ACK answering the parsed SYN into {@code buf} at {@code off}.
     *
     * @param tsNow our timestamp clock (must be even: the low bit selects microsecond timestamps on Linux 6.7+)
     * @return the IPv4 packet length
     */
    public int synAck(Ipv4TcpParser syn, MemorySegment buf, long off, int tsNow) {
        TcpOptions o = syn.options();
        int mssIdx = CookieTables.mssIndex(o.mss() < 0 ? 536 : o.mss());
        int wsIdx = CookieTables.wscaleIndex(o.wscale());
        boolean sack = o.sackPermitted();
        int isn = cookies.encode(syn.src(), syn.dst(), syn.srcPort(), syn.dstPort(), syn.seq(), mssIdx, wsIdx, sack);
        boolean ts = o.hasTimestamps();
        return writer.write(buf, off, syn.dst(), syn.src(), syn.dstPort(), syn.srcPort(), isn, syn.seq() + 1,
                TcpFlyweight.SYN | TcpFlyweight.ACK, synAckWindow, ourMss, wsIdx == 0 ? -1 : ourWscale, sack,
                ts, ts ? tsNow & ~1 : 0, ts ? o.tsVal() : 0);
    }

    /**
     * Checks whether a parsed ACK completes a cookie handshake and fills {@code out} if it does.
     * Also accepts the client's zero-window probe (sequence number one below the final ACK's); either way
     * the check costs one SipHash, so an invalid ACK costs one hash.
     *
     * <p>MSS, window scale and SACK come from the cookie; timestamps from the ACK itself. That is not a
     * gap: the SYN/ACK echoes timestamps exactly when the SYN offered them, and RFC 7323 (3.2) has the
     * client put them on every later segment exactly when both SYN and SYN/ACK carried them, so "the
     * ACK has TSopt" is "timestamps were negotiated" (Linux's own cookies decide the same way,
     * cookie_timestamp_decode). A bit for it in the ISN would cost a MAC bit and say nothing new.
     *
     * <p>ECN is declined (the SYN/ACK never sets ECE, so the client falls back to not-ECT): the cookie
     * could carry the bit in our TSval as Linux does, but a TCP_REPAIR socket cannot be switched to
     * ECN (TCP_REPAIR_OPTIONS knows MSS, window, SACK and timestamps only; connect() in repair mode
     * skips the ECN setup), so accepting it would leave the client marking ECT for a socket that
     * ignores CE marks and never echoes ECE.
     */
    public boolean verifyAck(Ipv4TcpParser ack, AckVerdict out) {
        int isn = ack.ack() - 1;
        // One hash for both forms; a zero-window probe after a lost final ACK carries seq = client ISN.
        int result = cookies.verifyAck(ack.src(), ack.dst(), ack.srcPort(), ack.dstPort(), ack.seq(), isn,
                ack.payloadLength() == 0);
        if (result < 0) {
            return false;
        }
        int bits = result & SynCookie.OPTION_BITS;
        int clientIsn = (result & SynCookie.PROBE) != 0 ? ack.seq() : ack.seq() - 1;
        TcpOptions o = ack.options();
        out.ipv6 = false;
        out.clientHi = 0;
        out.clientLo = AckVerdict.mapped(ack.src());
        out.localHi = 0;
        out.localLo = AckVerdict.mapped(ack.dst());
        out.clientAddress = ack.src();
        out.localAddress = ack.dst();
        out.clientPort = ack.srcPort();
        out.localPort = ack.dstPort();
        out.mss = Math.min(CookieTables.mss(SynCookie.mssIndexOf(bits)), ourMss);
        fill(out, bits, isn, clientIsn, o, ack.window(), ack.seq(), ack.payloadOffset(), ack.payloadLength());
        return true;
    }

    private void fill(AckVerdict out, int bits, int isn, int clientIsn, TcpOptions o, int window, int seq,
                      long payloadOffset, int payloadLength) {
        int wsIdx = SynCookie.wscaleIndexOf(bits);
        out.isn = isn;
        out.clientIsn = clientIsn;
        out.clientWscale = CookieTables.wscale(wsIdx);
        out.ourWscale = wsIdx == 0 ? -1 : ourWscale;
        out.sack = SynCookie.sackOf(bits);
        out.timestamps = o.hasTimestamps();
        out.clientTsVal = o.tsVal();
        out.ourTsVal = o.tsEcr();
        out.clientWindow = window;
        out.payloadOffset = payloadOffset;
        out.payloadLength = clientIsn == seq ? 0 : payloadLength;
    }

    /**
     * Writes the cookie SYN/ACK answering the parsed IPv6 SYN (IPv6 MSS table; a SYN without MSS counts as 1220).
     *
     * @return the IPv6 packet length (header included)
     */
    public int synAck(Ipv6TcpParser syn, MemorySegment buf, long off, int tsNow) {
        TcpOptions o = syn.options();
        int mssIdx = CookieTables.mssIndex6(o.mss() < 0 ? IPV6_DEFAULT_MSS : o.mss());
        int wsIdx = CookieTables.wscaleIndex(o.wscale());
        boolean sack = o.sackPermitted();
        int isn = cookies.encode6(syn.srcHi(), syn.srcLo(), syn.dstHi(), syn.dstLo(), syn.srcPort(), syn.dstPort(),
                syn.seq(), mssIdx, wsIdx, sack);
        boolean ts = o.hasTimestamps();
        return writer6.write(buf, off, syn.dstHi(), syn.dstLo(), syn.srcHi(), syn.srcLo(), syn.dstPort(),
                syn.srcPort(), isn, syn.seq() + 1, TcpFlyweight.SYN | TcpFlyweight.ACK, synAckWindow, ourMss6,
                wsIdx == 0 ? -1 : ourWscale, sack, ts, ts ? tsNow & ~1 : 0, ts ? o.tsVal() : 0);
    }

    /** IPv6 counterpart of {@link #verifyAck(Ipv4TcpParser, AckVerdict)}. */
    public boolean verifyAck(Ipv6TcpParser ack, AckVerdict out) {
        int isn = ack.ack() - 1;
        // One hash for both forms, as for IPv4.
        int result = cookies.verifyAck6(ack.srcHi(), ack.srcLo(), ack.dstHi(), ack.dstLo(), ack.srcPort(),
                ack.dstPort(), ack.seq(), isn, ack.payloadLength() == 0);
        if (result < 0) {
            return false;
        }
        int bits = result & SynCookie.OPTION_BITS;
        int clientIsn = (result & SynCookie.PROBE) != 0 ? ack.seq() : ack.seq() - 1;
        out.ipv6 = true;
        out.clientHi = ack.srcHi();
        out.clientLo = ack.srcLo();
        out.localHi = ack.dstHi();
        out.localLo = ack.dstLo();
        out.clientAddress = 0;
        out.localAddress = 0;
        out.clientPort = ack.srcPort();
        out.localPort = ack.dstPort();
        out.mss = Math.min(CookieTables.mss6(SynCookie.mssIndexOf(bits)), ourMss6);
        fill(out, bits, isn, clientIsn, ack.options(), ack.window(), ack.seq(), ack.payloadOffset(),
                ack.payloadLength());
        return true;
    }

    /**
     * Writes the in-sequence window update that opens the zero window after the handoff.
     *
     * @param windowBytes the receive window of the handed-off socket, in bytes
     */
    public int windowUpdate(AckVerdict v, int windowBytes, MemorySegment buf, long off) {
        int shift = Math.max(v.ourWscale(), 0);
        int window = Math.min(65535, windowBytes >>> shift);
        if (v.ipv6()) {
            return writer6.write(buf, off, v.localHi(), v.localLo(), v.clientHi(), v.clientLo(), v.localPort(),
                    v.clientPort(), v.isn() + 1, v.clientNextSeq(), TcpFlyweight.ACK, window, -1, -1, false,
                    v.timestamps(), v.ourTsVal(), v.clientTsVal());
        }
        return writer.write(buf, off, v.localAddress(), v.clientAddress(), v.localPort(), v.clientPort(),
                v.isn() + 1, v.clientNextSeq(), TcpFlyweight.ACK, window, -1, -1, false,
                v.timestamps(), v.ourTsVal(), v.clientTsVal());
    }

    /**
     * Writes the client's final ACK again, as the handed-off socket must see it to learn the client's TSval:
     * from the client to us, {@code seq} at the socket's {@code rcv_wup} (the client ISN + 1, even when the final
     * ACK carried data: the kernel keeps a TSval only from a segment that starts there), no data, the client's
     * timestamps. A TCP_REPAIR socket has no way to set ts_recent (TCP_REPAIR_OPTIONS takes TCPOPT_TIMESTAMP
     * with value 0 only), so without this its first segment carries TSecr 0 (RFC 7323 3.2 wants the latest
     * TSval echoed). Sent to our own address, it reaches the socket through the loopback device.
     *
     * @return the packet length, or 0 when timestamps were not negotiated (nothing to echo)
     */
    public int timestampEcho(AckVerdict v, MemorySegment buf, long off) {
        if (!v.timestamps()) {
            return 0;
        }
        if (v.ipv6()) {
            return writer6.write(buf, off, v.clientHi(), v.clientLo(), v.localHi(), v.localLo(), v.clientPort(),
                    v.localPort(), v.clientIsn() + 1, v.isn() + 1, TcpFlyweight.ACK, v.clientWindow(), -1, -1, false,
                    true, v.clientTsVal(), v.ourTsVal());
        }
        return writer.write(buf, off, v.clientAddress(), v.localAddress(), v.clientPort(), v.localPort(),
                v.clientIsn() + 1, v.isn() + 1, TcpFlyweight.ACK, v.clientWindow(), -1, -1, false,
                true, v.clientTsVal(), v.ourTsVal());
    }

    /**
     * Writes the RST that refuses a proven client (connection limit, draining): in sequence for the
     * client ({@code seq = ISN + 1}, what it expects next), so its stack accepts it and fails the
     * connection at once instead of retransmitting into the guard.
     */
    public int reset(AckVerdict v, MemorySegment buf, long off) {
        if (v.ipv6()) {
            return writer6.write(buf, off, v.localHi(), v.localLo(), v.clientHi(), v.clientLo(), v.localPort(),
                    v.clientPort(), v.isn() + 1, v.clientNextSeq(), TcpFlyweight.RST | TcpFlyweight.ACK, 0, -1, -1,
                    false, false, 0, 0);
        }
        return writer.write(buf, off, v.localAddress(), v.clientAddress(), v.localPort(), v.clientPort(),
                v.isn() + 1, v.clientNextSeq(), TcpFlyweight.RST | TcpFlyweight.ACK, 0, -1, -1, false,
                false, 0, 0);
    }
}
