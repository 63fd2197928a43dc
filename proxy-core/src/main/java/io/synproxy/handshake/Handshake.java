package io.synproxy.handshake;

import io.synproxy.cookie.CookieTables;
import io.synproxy.cookie.SynCookie;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpOptions;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;

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
    private final TcpSegmentWriter writer = new TcpSegmentWriter();
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

    /** The window the SYN/ACK advertises (0 with the zero window): what a client may send before its socket exists. */
    public int synAckWindow() {
        return synAckWindow;
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
     * Writes the cookie SYN/ACK answering the parsed SYN of either family into {@code buf} at {@code off}. The cookie
     * and the MSS table follow the family (an IPv6 SYN without MSS counts as {@link #IPV6_DEFAULT_MSS}).
     *
     * @param tsNow our timestamp clock (must be even: the low bit selects microsecond timestamps on Linux 6.7+)
     * @return the packet length
     */
    public int synAck(TcpSegment syn, MemorySegment buf, long off, int tsNow) {
        TcpOptions o = syn.options();
        boolean v6 = syn.ipv6();
        int mssIdx = v6 ? CookieTables.mssIndex6(o.mss() < 0 ? IPV6_DEFAULT_MSS : o.mss())
                : CookieTables.mssIndex(o.mss() < 0 ? 536 : o.mss());
        int wsIdx = CookieTables.wscaleIndex(o.wscale());
        boolean sack = o.sackPermitted();
        // The IPv4 cookie hashes the 32-bit addresses: a shorter SipHash message than the 128-bit form.
        int isn = v6
                ? cookies.encode6(syn.srcHi(), syn.srcLo(), syn.dstHi(), syn.dstLo(), syn.srcPort(), syn.dstPort(),
                        syn.seq(), mssIdx, wsIdx, sack)
                : cookies.encode(syn.src(), syn.dst(), syn.srcPort(), syn.dstPort(), syn.seq(), mssIdx, wsIdx, sack);
        return writer.from(syn.dstHi(), syn.dstLo(), syn.dstPort()).to(syn.srcHi(), syn.srcLo(), syn.srcPort())
                .seq(isn).ack(syn.seq() + 1).flags(TcpFlyweight.SYN | TcpFlyweight.ACK).window(synAckWindow)
                .mss(v6 ? ourMss6 : ourMss).wscale(wsIdx == 0 ? -1 : ourWscale).sackPermitted(sack)
                .timestamps(o.hasTimestamps(), tsNow & ~1, o.tsVal())
                .write(buf, off);
    }

    /**
     * Checks whether a parsed ACK of either family completes a cookie handshake and fills {@code out} if it does.
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
    public boolean verifyAck(TcpSegment ack, AckVerdict out) {
        int isn = ack.ack() - 1;
        boolean v6 = ack.ipv6();
        // One hash for both forms; a zero-window probe after a lost final ACK carries seq = client ISN.
        int result = v6
                ? cookies.verifyAck6(ack.srcHi(), ack.srcLo(), ack.dstHi(), ack.dstLo(), ack.srcPort(),
                        ack.dstPort(), ack.seq(), isn, ack.payloadLength() == 0)
                : cookies.verifyAck(ack.src(), ack.dst(), ack.srcPort(), ack.dstPort(), ack.seq(), isn,
                        ack.payloadLength() == 0);
        if (result < 0) {
            return false;
        }
        int bits = result & SynCookie.OPTION_BITS;
        int seq = ack.seq();
        int clientIsn = (result & SynCookie.PROBE) != 0 ? seq : seq - 1;
        int wsIdx = SynCookie.wscaleIndexOf(bits);
        TcpOptions o = ack.options();
        out.ipv6 = v6;
        out.clientHi = ack.srcHi();
        out.clientLo = ack.srcLo();
        out.localHi = ack.dstHi();
        out.localLo = ack.dstLo();
        out.clientPort = ack.srcPort();
        out.localPort = ack.dstPort();
        out.mss = v6 ? Math.min(CookieTables.mss6(SynCookie.mssIndexOf(bits)), ourMss6)
                : Math.min(CookieTables.mss(SynCookie.mssIndexOf(bits)), ourMss);
        out.isn = isn;
        out.clientIsn = clientIsn;
        out.clientWscale = CookieTables.wscale(wsIdx);
        out.ourWscale = wsIdx == 0 ? -1 : ourWscale;
        out.sack = SynCookie.sackOf(bits);
        out.timestamps = o.hasTimestamps();
        out.clientTsVal = o.tsVal();
        out.ourTsVal = o.tsEcr();
        out.clientWindow = ack.window();
        out.payloadOffset = ack.payloadOffset();
        out.payloadLength = clientIsn == seq ? 0 : ack.payloadLength();
        return true;
    }

    /**
     * Writes the in-sequence window update that opens the zero window after the handoff.
     *
     * @param windowBytes the receive window of the handed-off socket, in bytes
     */
    public int windowUpdate(AckVerdict v, int windowBytes, MemorySegment buf, long off) {
        int shift = Math.max(v.ourWscale(), 0);
        return replyTo(v).flags(TcpFlyweight.ACK).window(Math.min(65535, windowBytes >>> shift))
                .timestamps(v.timestamps(), v.ourTsVal(), v.clientTsVal())
                .write(buf, off);
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
        return writer.from(v.clientHi(), v.clientLo(), v.clientPort()).to(v.localHi(), v.localLo(), v.localPort())
                .seq(v.clientIsn() + 1).ack(v.isn() + 1).flags(TcpFlyweight.ACK).window(v.clientWindow())
                .timestamps(v.clientTsVal(), v.ourTsVal())
                .write(buf, off);
    }

    /**
     * Writes the RST that refuses a proven client (connection limit, draining): in sequence for the
     * client ({@code seq = ISN + 1}, what it expects next), so its stack accepts it and fails the
     * connection at once instead of retransmitting into the guard.
     */
    public int reset(AckVerdict v, MemorySegment buf, long off) {
        return replyTo(v).flags(TcpFlyweight.RST | TcpFlyweight.ACK).write(buf, off);
    }

    /**
     * Writes the answer to an ACK that completes no handshake (a stale or forged cookie):
     * {@code <SEQ=SEG.ACK><CTL=RST>}, what RFC 9293 (3.10.7.2) has a listener send for an unacceptable ACK, and what
     * the kernel would send. A real client whose cookie expired then fails at once instead of waiting behind the zero
     * window. The caller rate-limits it, so that an ACK flood cannot make the proxy a reflector.
     */
    public int unacceptableAckReset(TcpSegment ack, MemorySegment buf, long off) {
        return writer.from(ack.dstHi(), ack.dstLo(), ack.dstPort()).to(ack.srcHi(), ack.srcLo(), ack.srcPort())
                .seq(ack.ack()).flags(TcpFlyweight.RST).write(buf, off);
    }

    /** The writer filled with the proven connection's tuple and our next in-sequence numbers. */
    private TcpSegmentWriter replyTo(AckVerdict v) {
        return writer.from(v.localHi(), v.localLo(), v.localPort()).to(v.clientHi(), v.clientLo(), v.clientPort())
                .seq(v.isn() + 1).ack(v.clientNextSeq());
    }
}
