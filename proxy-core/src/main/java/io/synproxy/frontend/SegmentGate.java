package io.synproxy.frontend;

import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handoff.Handoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.linux.LinuxException;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.MartianSource;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpSegment;
import io.synproxy.policy.SourceLimits;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.LongSupplier;

/**
 * The front end's decision for every captured packet, with no Netty and no socket of its own: parse, then SYN
 * (answered with a cookie SYN/ACK), segment of a live connection (the kernel's; a repeat of its final ACK is counted
 * as a replay), segment of a recently closed one (late, unless it completes a new handshake on that tuple), final ACK
 * to verify (handed off, or refused with a RST when draining or at the connection limit), anything else. It owns the
 * live and recently-closed tuple tables and talks to narrow interfaces: {@link Replies} for what it sends,
 * {@link Handoff} for the socket a proven client gets, {@link ConnectionSink} for where that socket goes, and
 * {@link Admission} for source policy before anything is answered.
 *
 * <p>Driven by one loop thread ({@link FrontendHandle} drains the ring into {@link #onPacket} and calls
 * {@link #endOfDrain}); {@link #startDraining} and {@link #liveConnections} may be called from any thread. Nothing is
 * allocated per packet on the SYN and invalid-ACK paths.
 *
 * <p>With the zero-window SYN/ACK the capture filter passes no segment with payload but SYNs and those behind IPv6
 * extension headers ({@code headersOnly} in {@link Bpf}): the live connections' data segments, and any data to a
 * closed or unknown tuple, stay in the kernel, so {@code ack_live} counts their segments without payload only (ACKs,
 * window updates, probes, FIN, RST). With {@code --no-zero-window} it counts them all.
 */
public final class SegmentGate {
    private final GateSettings settings;
    private final Handshake handshake;
    private final Handoff handoff;
    private final Replies replies;
    private final ConnectionSink sink;
    private final Admission admission;
    /** Sum of what {@link #prefetch} read: kept live so the reads are not optimised away; never looked at. */
    private long prefetched;
    private final Counters counters;
    private final LongSupplier clockMillis;
    private final int[] ports6;
    private final LiveTuples live = new LiveTuples(1024);
    private final RecentlyClosed closed;
    private final TcpSegment segment = new TcpSegment();
    private final AckVerdict verdict = new AckVerdict();
    /** The packet being decided came in on the loopback device (our own timestamp echo, or a local client). */
    private boolean fromLoopback;
    private volatile boolean draining;
    private volatile int liveCount;

    /**
     * @param clockMillis a monotonic millisecond clock (when a connection closed, for the closed-tuple table)
     */
    public SegmentGate(GateSettings settings, Handshake handshake, Handoff handoff, Replies replies,
                       ConnectionSink sink, Admission admission, Counters counters, LongSupplier clockMillis) {
        this.settings = settings;
        this.handshake = handshake;
        this.handoff = handoff;
        this.replies = replies;
        this.sink = sink;
        this.admission = admission;
        this.counters = counters;
        this.clockMillis = clockMillis;
        this.ports6 = settings.ports6();
        this.closed = new RecentlyClosed(settings.maxConnections(), settings.closedTupleMillis());
    }

    /** The monotonic millisecond clock the front end uses: {@link System#nanoTime()} in milliseconds. */
    public static long monotonicMillis() {
        return System.nanoTime() / 1_000_000L;
    }

    /**
     * Whether a captured packet's TCP checksum must be verified in software, from its TPACKET status: not when the
     * kernel says it was offloaded (veth, loopback: not yet computed) or already verified.
     */
    public static boolean mustVerifyChecksum(int ringStatus) {
        return (ringStatus & (PacketRing.TP_STATUS_CSUMNOTREADY | PacketRing.TP_STATUS_CSUM_VALID)) == 0;
    }

    /**
     * From now on SYNs go unanswered (the guard still drops them: the kernel never answers) and valid final ACKs of
     * handshakes already under way are answered with RST, so no connection starts; live connections carry on. Any
     * thread.
     */
    public void startDraining() {
        draining = true;
    }

    /** Live connections; read from other threads only as an approximate gauge. */
    public int liveConnections() {
        return liveCount;
    }

    /** {@link #onPacket(MemorySegment, long, int, int, boolean, long)} for a packet not from the loopback device. */
    public Reject onPacket(MemorySegment mem, long ipOffset, int length, int ringStatus, long nowMillis) {
        return onPacket(mem, ipOffset, length, ringStatus, false, nowMillis);
    }

    /**
     * One captured IP packet of either family.
     *
     * @param length the bytes captured from {@code ipOffset}
     * @param ringStatus the frame's TPACKET status (its checksum flags say whether to verify, see
     *                   {@link #mustVerifyChecksum})
     * @param loopback the packet came in on the loopback device, where a local client may have our address or
     *                 127/8 as its source (exempt from the martian check)
     * @param nowMillis {@link #monotonicMillis()}, read once per drain; our timestamp clock derives from it
     * @return why the packet was rejected (counted), or {@link Reject#NONE} when it was taken
     */
    public Reject onPacket(MemorySegment mem, long ipOffset, int length, int ringStatus, boolean loopback,
                           long nowMillis) {
        counters.increment(Counter.RING_PACKETS);
        fromLoopback = loopback;
        // An unprotected family is refused before any parsing: it only reaches us on a wildcard capture.
        boolean v6 = TcpSegment.isIpv6(mem, ipOffset, length);
        if (v6 ? !settings.ipv6() : !settings.ipv4()) {
            Reject wrongFamily = v6 ? Reject.NOT_IPV4 : Reject.NOT_IPV6;
            counters.reject(wrongFamily);
            return wrongFamily;
        }
        Reject reject = segment.parse(mem, ipOffset, length, mustVerifyChecksum(ringStatus));
        if (reject != Reject.NONE) {
            counters.reject(reject);
            return reject;
        }
        // Never answered: a SYN/ACK would go to a multicast group, a broadcast address or ourselves (RFC 1122).
        if (!loopback && MartianSource.of(segment)) {
            counters.increment(Counter.MARTIAN_SOURCE);
            return Reject.NONE;
        }
        if (segment.extensionHeaders() != 0 && !protectedPort6(segment.dstPort())) {
            counters.reject(Reject.NOT_OUR_PORT);
            return Reject.NOT_OUR_PORT;
        }
        onSegment(mem, nowMillis);
        return Reject.NONE;
    }

    /**
     * A packet still waiting in the ring, a few frames ahead of the one being handled: the admission reads what it
     * will look up for it ({@link Admission#prefetch}). Called for a batch of frames at a time, so their cache misses
     * are in flight together instead of one per packet.
     */
    public void prefetch(MemorySegment mem, long ipOffset, int length) {
        prefetched += admission.prefetch(mem, ipOffset, length);
    }

    /** Whether {@link #prefetch} reads anything (a deny or allow list is in force). */
    public boolean prefetches() {
        return admission.prefetches();
    }

    /** The end of a ring drain: batched replies go out, the live gauge is refreshed. */
    public void endOfDrain() {
        replies.flush();
        liveCount = live.size();
    }

    private void onSegment(MemorySegment mem, long nowMillis) {
        TcpSegment s = segment;
        int flags = s.flags();
        long cHi = s.srcHi();
        long cLo = s.srcLo();
        int cPort = s.srcPort();
        long lHi = s.dstHi();
        long lLo = s.dstLo();
        long closedIsn;
        Counter refused;
        if (!Handshake.isSyn(flags) && live.contains(cHi, cLo, cPort, lHi, lLo)) {
            counters.increment(Counter.ACK_LIVE);
            if (Handshake.isAck(flags) && s.payloadLength() == 0) {
                countReplay(live.valueOf(cHi, cLo, cPort, lHi, lLo, 0L), s.seq(), s.ack());
            } else if (s.payloadLength() > 0 && handshake.synAckWindow() > 0) {
                passEarlyData(mem, live.valueOf(cHi, cLo, cPort, lHi, lLo, 0L), live.fdOf(cHi, cLo, cPort, lHi, lLo),
                        lHi, lLo);
            }
        } else if ((refused = admission.refuse(s)) != null) {
            counters.increment(refused);
        } else if (Handshake.isSyn(flags)) {
            onSyn(nowMillis);
        } else if ((closedIsn = closed.isnOf(cHi, cLo, cPort, lHi, lLo, nowMillis)) >= 0) {
            // A new handshake on a recently closed tuple carries a new cookie; anything acknowledging the old
            // ISN is a late segment or a replay of the old final ACK.
            if (Handshake.isAck(flags) && s.ack() - 1 != (int) closedIsn && handshake.verifyAck(s, verdict)) {
                closed.forget(cHi, cLo, cPort, lHi, lLo);
                handOff(mem);
            } else {
                counters.increment(Counter.SEGMENTS_AFTER_CLOSE);
            }
        } else if (Handshake.isAck(flags)) {
            if (handshake.verifyAck(s, verdict)) {
                handOff(mem);
            } else {
                counters.increment(Counter.ACK_INVALID);
                answerInvalidAck(nowMillis);
            }
        } else {
            counters.increment(Counter.OTHER_SEGMENTS);
        }
    }

    private boolean protectedPort6(int port) {
        for (int p : ports6) {
            if (p == port) {
                return true;
            }
        }
        return false;
    }

    /**
     * A repeat of a live connection's final ACK (or its probe form): a replay, counted. The tuple keeps
     * its one socket whatever the replay says. {@code value} holds the connection's ISN and the client's.
     */
    private void countReplay(long value, int seq, int ack) {
        int isn = (int) (value >>> 32);
        int clientIsn = (int) value;
        // On loopback it is our own timestamp echo (see handOff), seen again when every interface is captured.
        if (!fromLoopback && ack == isn + 1 && (seq == clientIsn + 1 || seq == clientIsn)) {
            counters.increment(Counter.REPLAY_LIVE);
        }
    }

    /**
     * Without the zero window a client sends its request right after its final ACK, before it hears from the socket
     * (a Linux client about 0.1 ms later), and the socket exists only once the handoff is done (0.2 to 0.5 ms): the
     * guard drops what reaches the host before, and the client resends it only after its retransmission timeout
     * (200 ms or more). The capture has a copy of every such segment, so it goes to the socket again through
     * loopback, as the timestamp echo does. Only the client's first window, what it could send before any ACK from
     * the socket ({@code ack} still our ISN + 1, {@code seq} within the SYN/ACK's window): where the socket already
     * had it, the copy would cost one duplicate ACK to the client: the socket is asked first how much it received
     * in sequence ({@code tcpi_bytes_received}, one getsockopt), and a segment it has is not sent again. One it
     * lacks is: dropped before the socket existed, or not yet through the kernel's TCP when the capture's copy is
     * read, or out of order (then the copy is a harmless duplicate). Not for what came in on loopback: the copy
     * itself comes back that way where every interface is captured.
     */
    private void passEarlyData(MemorySegment mem, long value, int fd, long lHi, long lLo) {
        TcpSegment s = segment;
        int isn = (int) (value >>> 32);
        int clientIsn = (int) value;
        int offset = s.seq() - (clientIsn + 1);
        if (fromLoopback || s.ack() != isn + 1 || offset < 0 || offset >= handshake.synAckWindow()) {
            return;
        }
        long received = fd >= 0 ? handoff.bytesReceived(fd) : -1;
        if (received >= 0 && offset + (long) s.payloadLength() <= received) {
            counters.increment(Counter.EARLY_DATA_HELD);
            return;
        }
        int length = s.copyWithChecksum(mem, replies.packetBuffer());
        if (length > 0) {
            counters.increment(replies.sendLocalPacket(length, lHi, lLo) ? Counter.EARLY_DATA
                    : Counter.HANDOFF_SEND_FAILED);
        }
    }

    private void onSyn(long nowMillis) {
        counters.increment(Counter.SYN_RECEIVED);
        if (draining) {
            counters.increment(Counter.DRAIN_SYN);
            return;
        }
        int length = handshake.synAck(segment, replies.buffer(), 0, (int) nowMillis & ~1);
        boolean sent = replies.send(length, segment.srcHi(), segment.srcLo());
        counters.increment(sent ? Counter.SYNACK_SENT : Counter.SYNACK_SEND_FAILED);
    }

    /** A verified final ACK (in {@link #verdict}): build the socket, adopt it, open the window. */
    private void handOff(MemorySegment mem) {
        counters.increment(Counter.ACK_VALID);
        if (draining) {
            refuse(Counter.DRAIN_RST);
            return;
        }
        if (live.size() >= settings.maxConnections()) {
            refuse(Counter.LIMIT_RST);
            return;
        }
        long cHi = verdict.clientHi();
        long cLo = verdict.clientLo();
        SourceLimits limits = settings.policy().limits();
        int admitted = limits == null ? SourceLimits.TABLE_FULL
                : limits.acquire(cHi, cLo, clockMillis.getAsLong() * 1_000_000L);
        if (admitted == SourceLimits.OVER_CONNECTIONS || admitted == SourceLimits.OVER_RATE) {
            refuse(admitted == SourceLimits.OVER_RATE ? Counter.SOURCE_RATE_RST : Counter.SOURCE_LIMIT_RST);
            return;
        }
        if (limits != null && admitted == SourceLimits.TABLE_FULL) {
            counters.increment(Counter.SOURCE_TABLE_FULL);
        }
        boolean tracked = admitted == SourceLimits.ADMITTED;
        int fd;
        try {
            fd = handoff.handoff(verdict, mem);
        } catch (LinuxException e) {
            counters.increment(Counter.HANDOFF_FAILED);
            if (tracked) {
                limits.release(cHi, cLo);
            }
            return;
        }
        int clientPort = verdict.clientPort();
        long lHi = verdict.localHi();
        long lLo = verdict.localLo();
        live.put(cHi, cLo, clientPort, lHi, lLo, (long) verdict.isn() << 32 | (verdict.clientIsn() & 0xffffffffL), fd);
        counters.increment(Counter.HANDOFFS);
        // The final ACK again, to ourselves through loopback: the new socket learns the client's TSval and echoes
        // it in its first segment (RFC 7323 3.2). With the zero window and no data in the final ACK, the client's
        // first segment after the window opens (its request) teaches the socket the same before the socket sends
        // anything, unless the server speaks first: then the echo goes just before that, and otherwise never (a
        // packet through lo and a system call per connection, about 5 us here). Else now, before the window opens.
        MemorySegment local = replies.localBuffer();
        int echo = handshake.timestampEcho(verdict, local, 0);
        Runnable lateEcho = null;
        if (echo > 0) {
            if (handshake.synAckWindow() == 0 && verdict.payloadLength() == 0) {
                byte[] packet = local.asSlice(0, echo).toArray(ValueLayout.JAVA_BYTE);
                lateEcho = () -> echoLater(packet, lHi, lLo);
            } else if (!replies.sendLocal(echo, lHi, lLo)) {
                counters.increment(Counter.HANDOFF_SEND_FAILED);
            }
        }
        int isn = verdict.isn();
        // Open the zero window with an in-sequence ACK, and send it now: the client may send its request while the
        // relay's channels are built (about 0.1 ms of the handoff's time, measured), instead of after. The request
        // waits in the socket until the relay reads it.
        int update = handshake.windowUpdate(verdict, handoff.lastReceiveWindow(), replies.buffer(), 0);
        if (!replies.send(update, cHi, cLo)) {
            counters.increment(Counter.HANDOFF_SEND_FAILED);
        }
        replies.flush();
        Runnable onClose = () -> {
            if (tracked) {
                limits.release(cHi, cLo);
            }
            live.remove(cHi, cLo, clientPort, lHi, lLo);
            closed.add(cHi, cLo, clientPort, lHi, lLo, isn, clockMillis.getAsLong());
            liveCount = live.size();
        };
        sink.adopt(fd, verdict, onClose, lateEcho);
    }

    /** The timestamp echo {@link #handOff} kept for later: sent now, from this loop, outside any drain. */
    private void echoLater(byte[] packet, long lHi, long lLo) {
        MemorySegment.copy(packet, 0, replies.localBuffer(), ValueLayout.JAVA_BYTE, 0, packet.length);
        if (!replies.sendLocal(packet.length, lHi, lLo)) {
            counters.increment(Counter.HANDOFF_SEND_FAILED);
        }
    }

    /**
     * Answers an ACK that completes no handshake with {@code RST seq=SEG.ACK}, as the kernel would, rate-limited;
     * not when this host's kernel holds a connection for it (another instance's, see
     * {@link Handoff#hostHasConnection}).
     */
    private void answerInvalidAck(long nowMillis) {
        // The drain's clock, read once per batch: no clock read per packet on the flood path.
        if (!settings.policy().invalidAckResets().tryTake(nowMillis * 1_000_000L)) {
            counters.increment(Counter.INVALID_ACK_RST_LIMITED);
            return;
        }
        // After the token, so an ACK flood costs at most the bucket's rate in lookups.
        if (handoff.hostHasConnection(segment)) {
            counters.increment(Counter.ACK_HOST_SOCKET);
            return;
        }
        replies.send(handshake.unacceptableAckReset(segment, replies.buffer(), 0), segment.srcHi(), segment.srcLo());
        counters.increment(Counter.INVALID_ACK_RST);
    }

    /** Answers the verified final ACK with an in-sequence RST: no socket, the client fails at once. */
    private void refuse(Counter why) {
        replies.send(handshake.reset(verdict, replies.buffer(), 0), verdict.clientHi(), verdict.clientLo());
        counters.increment(why);
    }
}
