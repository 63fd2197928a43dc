package io.synproxy.handshake;

import io.synproxy.cookie.CookieTables;
import io.synproxy.cookie.SynCookie;
import io.synproxy.packet.Ipv4TcpParser;
import io.synproxy.packet.Ipv4TcpWriter;
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
    private final SynCookie cookies;
    private final Ipv4TcpWriter writer = new Ipv4TcpWriter();
    private final int ourMss;
    private final int ourWscale;
    private final int synAckWindow;

    /**
     * @param ourMss the MSS we announce (the interface MTU minus 40)
     * @param ourWscale the receive window shift we announce when the client scales (what the kernel would pick)
     * @param zeroWindow whether the SYN/ACK advertises window 0 until the handoff is done
     */
    public Handshake(SynCookie cookies, int ourMss, int ourWscale, boolean zeroWindow) {
        this.cookies = cookies;
        this.ourMss = ourMss;
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
     * Also accepts the client's zero-window probe (sequence number one below the final ACK's).
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
        int bits = cookies.verify(ack.src(), ack.dst(), ack.srcPort(), ack.dstPort(), ack.seq() - 1, isn);
        int clientIsn = ack.seq() - 1;
        if (bits < 0 && ack.payloadLength() == 0) {
            // A zero-window probe after a lost final ACK carries seq = snd_una - 1 = client ISN.
            bits = cookies.verify(ack.src(), ack.dst(), ack.srcPort(), ack.dstPort(), ack.seq(), isn);
            clientIsn = ack.seq();
        }
        if (bits < 0) {
            return false;
        }
        TcpOptions o = ack.options();
        int wsIdx = SynCookie.wscaleIndexOf(bits);
        out.clientAddress = ack.src();
        out.localAddress = ack.dst();
        out.clientPort = ack.srcPort();
        out.localPort = ack.dstPort();
        out.isn = isn;
        out.clientIsn = clientIsn;
        out.mss = Math.min(CookieTables.mss(SynCookie.mssIndexOf(bits)), ourMss);
        out.clientWscale = CookieTables.wscale(wsIdx);
        out.ourWscale = wsIdx == 0 ? -1 : ourWscale;
        out.sack = SynCookie.sackOf(bits);
        out.timestamps = o.hasTimestamps();
        out.clientTsVal = o.tsVal();
        out.ourTsVal = o.tsEcr();
        out.clientWindow = ack.window();
        out.payloadOffset = ack.payloadOffset();
        out.payloadLength = clientIsn == ack.seq() ? 0 : ack.payloadLength();
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
        return writer.write(buf, off, v.localAddress(), v.clientAddress(), v.localPort(), v.clientPort(),
                v.isn() + 1, v.clientNextSeq(), TcpFlyweight.ACK, window, -1, -1, false,
                v.timestamps(), v.ourTsVal(), v.clientTsVal());
    }
}
