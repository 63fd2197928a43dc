package io.synproxy.frontend;

import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.unix.FileDescriptor;
import io.synproxy.handoff.RepairHandoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.linux.LinuxException;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.Ipv4TcpParser;
import io.synproxy.packet.Ipv6TcpParser;
import io.synproxy.packet.Reject;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One event loop's front end: drains its capture ring when epoll says so, answers SYNs with
 * cookie SYN/ACKs, turns valid final ACKs into handed-off sockets. Everything a connection
 * touches (ring, raw socket, repaired socket, backend socket) lives on this one loop thread.
 *
 * <p>The receive loop owns its flyweights and buffers: nothing is allocated per packet on the
 * SYN or invalid-ACK paths.
 */
public final class FrontendHandle implements EpollIoHandle {
    /** How long a closed connection's tuple is remembered: Linux's TIME_WAIT length. */
    static final long CLOSED_TUPLE_MILLIS = 60_000;
    /**
     * Frames handled per loop turn: under a flood the ring never empties, and the relays and handoffs on this
     * loop (whose sockets are ready in the same epoll turn) must not wait for it to. The ring's descriptor is
     * level-triggered, so epoll reports it again at once.
     */
    static final int FRAMES_PER_TURN = 256;
    /**
     * How long a drain that found frames keeps watching the ring once it is empty, before the loop goes back to
     * epoll. Under a flood the next frame comes within microseconds: a loop asleep in epoll_wait costs the kernel a
     * wake-up per frame (in the sender's softirq) and the loop an epoll turn and a send() per frame, several
     * microseconds each; a loop that is awake costs neither. 0 turns it off.
     */
    static final long SPIN_NANOS = Long.getLong("synproxy.spinMicros", 50) * 1000;
    /**
     * The wait is only worth it when frames come faster than the loop wakes up, which a drain shows by finding
     * several at once; at a few thousand frames per second a drain finds one, and waiting would cost more CPU
     * than the wake-up it saves.
     */
    static final int SPIN_AFTER_FRAMES = 4;
    /** No waiting for frames once a turn has lasted this long: the relays on this loop are served in between. */
    static final long TURN_NANOS = 500_000;

    private final PacketRing ring;
    private final RawSender sender;
    private final RawSender sender6;
    private final Replies replies;
    private final int[] ports6;
    private final Handshake handshake;
    private final RepairHandoff handoff;
    private final Counters counters;
    private final ConnectionSink sink;
    private final LiveTuples live;
    private RecentlyClosed closed;
    private final int maxConnections;
    private final FileDescriptor fd;
    private final Ipv4TcpParser parser = new Ipv4TcpParser();
    private final Ipv6TcpParser parser6 = new Ipv6TcpParser();
    private final AckVerdict verdict = new AckVerdict();
    private long rxFrame;

    /**
     * @param sender the IPv4 raw sender, or null when no IPv4 address is protected
     * @param sender6 the IPv6 raw sender, or null when no IPv6 address is protected
     * @param replies where replies leave (the TX ring, else these raw senders); flushed at the end of each drain
     * @param ports6 the protected IPv6 ports: checked here for IPv6 packets with extension headers, which the
     *               filter passes without looking at their port
     */
    public FrontendHandle(PacketRing ring, RawSender sender, RawSender sender6, Replies replies, int[] ports6,
                          Handshake handshake, RepairHandoff handoff, Counters counters, ConnectionSink sink,
                          int maxConnections) {
        this.ring = ring;
        this.sender = sender;
        this.sender6 = sender6;
        this.replies = replies;
        this.ports6 = ports6.clone();
        this.handshake = handshake;
        this.handoff = handoff;
        this.counters = counters;
        this.sink = sink;
        this.maxConnections = maxConnections;
        this.live = new LiveTuples(1024);
        this.closed = new RecentlyClosed(maxConnections, CLOSED_TUPLE_MILLIS);
        this.fd = new FileDescriptor(ring.fd());
    }

    /**
     * How long closed tuples are remembered; call before the handle is registered. It must cover the
     * cookie lifetime (up to two key periods), or a final ACK replayed after the tuple was forgotten but
     * while its cookie still verifies would build a socket again.
     */
    public void rememberClosedTuplesFor(long millis) {
        closed = new RecentlyClosed(maxConnections, Math.max(CLOSED_TUPLE_MILLIS, millis));
    }

    /**
     * From now on SYNs go unanswered (the guard still drops them: the kernel never answers) and valid
     * final ACKs of handshakes already under way are answered with RST, so no connection starts; live
     * connections carry on. Any thread.
     */
    public void startDraining() {
        draining = true;
    }

    private volatile boolean draining;

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    /** Live connections on this loop; read from other threads only as an approximate gauge. */
    public int liveConnections() {
        return liveCount;
    }

    private volatile int liveCount;

    @Override
    public void handle(IoRegistration registration, IoEvent ioEvent) {
        drain();
    }

    /**
     * Processes the frames the kernel has handed over, at most {@link #FRAMES_PER_TURN}, then sends the replies.
     * A drain that found several frames waits up to {@link #SPIN_NANOS} for the next one before it returns.
     */
    public void drain() {
        MemorySegment mem = ring.memory();
        long started = System.nanoTime();
        long nowMillis = started / 1_000_000L;
        int tsNow = (int) nowMillis & ~1;
        int budget = FRAMES_PER_TURN;
        long spinUntil = 0;
        while (budget > 0) {
            long frame = ring.nextFrame();
            if (frame < 0) {
                if (FRAMES_PER_TURN - budget < SPIN_AFTER_FRAMES) {
                    break;
                }
                long now = System.nanoTime();
                if (spinUntil == 0) {
                    // What is answered leaves now, not after the wait.
                    replies.flush();
                    spinUntil = now + SPIN_NANOS;
                }
                if (now >= spinUntil || now - started >= TURN_NANOS) {
                    break;
                }
                Thread.onSpinWait();
                continue;
            }
            spinUntil = 0;
            budget--;
            rxFrame = frame;
            int status = ring.status(frame);
            if ((status & PacketRing.TP_STATUS_LOSING) != 0) {
                counters.add(Counter.RING_DROPS, ring.takeDrops());
            }
            int snaplen = mem.get(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_SNAPLEN);
            int net = Short.toUnsignedInt(mem.get(ValueLayout.JAVA_SHORT, frame + PacketRing.FRAME_NET));
            // Offloaded (veth, loopback) or already verified checksums are not recomputed.
            boolean verify = (status & (PacketRing.TP_STATUS_CSUMNOTREADY | PacketRing.TP_STATUS_CSUM_VALID)) == 0;
            onPacket(mem, frame + net, snaplen, verify, tsNow, nowMillis);
            ring.releaseFrame(frame);
        }
        replies.flush();
        liveCount = live.size();
    }

    private void onPacket(MemorySegment mem, long ipOffset, int length, boolean verifyChecksum, int tsNow,
                          long nowMillis) {
        counters.increment(Counter.RING_PACKETS);
        if (length > 0 && (mem.get(ValueLayout.JAVA_BYTE, ipOffset) & 0xF0) == 0x60) {
            onPacket6(mem, ipOffset, length, verifyChecksum, tsNow, nowMillis);
            return;
        }
        if (sender == null) {
            counters.reject(Reject.NOT_IPV6);
            return;
        }
        Reject reject = parser.parse(mem, ipOffset, length, verifyChecksum);
        if (reject != Reject.NONE) {
            counters.reject(reject);
            return;
        }
        onSegment(false, parser.flags(), 0, AckVerdict.mapped(parser.src()), parser.srcPort(), 0,
                AckVerdict.mapped(parser.dst()), parser.seq(), parser.ack(), parser.payloadLength(), mem, tsNow, nowMillis);
    }

    private void onPacket6(MemorySegment mem, long ipOffset, int length, boolean verifyChecksum, int tsNow,
                           long nowMillis) {
        if (sender6 == null) {
            counters.reject(Reject.NOT_IPV4);
            return;
        }
        Reject reject = parser6.parse(mem, ipOffset, length, verifyChecksum);
        if (reject != Reject.NONE) {
            counters.reject(reject);
            return;
        }
        if (parser6.extensionHeaders() != 0 && !protectedPort6(parser6.dstPort())) {
            counters.reject(Reject.NOT_OUR_PORT);
            return;
        }
        onSegment(true, parser6.flags(), parser6.srcHi(), parser6.srcLo(), parser6.srcPort(), parser6.dstHi(),
                parser6.dstLo(), parser6.seq(), parser6.ack(), parser6.payloadLength(), mem, tsNow, nowMillis);
    }

    /**
     * What a parsed segment of either family is, in order: a SYN (answered with a cookie), a segment of a
     * live connection (the kernel's; a repeat of its final ACK is counted as a replay), a segment of a
     * recently closed one (late, unless it completes a new handshake on that tuple), a final ACK to
     * verify, or anything else. IPv4 addresses come in their mapped form.
     *
     * <p>With the zero-window SYN/ACK the capture filter passes no segment with payload but SYNs and those behind
     * IPv6 extension headers ({@code headersOnly} in {@link Bpf}): the live connections' data segments, and any
     * data to a closed or unknown tuple, stay in the kernel, so {@code ack_live} counts their segments without
     * payload only (ACKs, window updates, probes, FIN, RST). With {@code --no-zero-window} it counts them all.
     */
    private void onSegment(boolean v6, int flags, long cHi, long cLo, int cPort, long lHi, long lLo, int seq, int ack,
                           int payloadLength, MemorySegment mem, int tsNow, long nowMillis) {
        long closedIsn;
        if (Handshake.isSyn(flags)) {
            onSyn(v6, cHi, cLo, tsNow);
        } else if (live.contains(cHi, cLo, cPort, lHi, lLo)) {
            counters.increment(Counter.ACK_LIVE);
            if (Handshake.isAck(flags) && payloadLength == 0) {
                countReplay(live.valueOf(cHi, cLo, cPort, lHi, lLo, 0L), seq, ack);
            }
        } else if ((closedIsn = closed.isnOf(cHi, cLo, cPort, lHi, lLo, nowMillis)) >= 0) {
            // A new handshake on a recently closed tuple carries a new cookie; anything acknowledging the old
            // ISN is a late segment or a replay of the old final ACK.
            if (Handshake.isAck(flags) && ack - 1 != (int) closedIsn && verifyAck(v6)) {
                closed.forget(cHi, cLo, cPort, lHi, lLo);
                handOff(mem);
            } else {
                counters.increment(Counter.SEGMENTS_AFTER_CLOSE);
            }
        } else if (Handshake.isAck(flags)) {
            if (verifyAck(v6)) {
                handOff(mem);
            } else {
                counters.increment(Counter.ACK_INVALID);
            }
        } else {
            counters.increment(Counter.OTHER_SEGMENTS);
        }
    }

    /** Checks the segment the family's parser holds; fills {@link #verdict} when it completes a handshake. */
    private boolean verifyAck(boolean v6) {
        return v6 ? handshake.verifyAck(parser6, verdict) : handshake.verifyAck(parser, verdict);
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
        if (ack == isn + 1 && (seq == clientIsn + 1 || seq == clientIsn)) {
            counters.increment(Counter.REPLAY_LIVE);
        }
    }

    private void onSyn(boolean v6, long cHi, long cLo, int tsNow) {
        counters.increment(Counter.SYN_RECEIVED);
        if (draining) {
            counters.increment(Counter.DRAIN_SYN);
            return;
        }
        long at = replies.begin(ring.memory(), rxFrame, v6);
        int length = v6 ? handshake.synAck(parser6, replies.buffer(), at, tsNow)
                : handshake.synAck(parser, replies.buffer(), at, tsNow);
        boolean sent = replies.send(length, v6, cHi, cLo);
        counters.increment(sent ? Counter.SYNACK_SENT : Counter.SYNACK_SEND_FAILED);
    }

    /** A verified final ACK of either family (in {@link #verdict}): build the socket, open the window, adopt. */
    private void handOff(MemorySegment mem) {
        counters.increment(Counter.ACK_VALID);
        if (draining) {
            refuse(Counter.DRAIN_RST);
            return;
        }
        if (live.size() >= maxConnections) {
            refuse(Counter.LIMIT_RST);
            return;
        }
        int fdNum;
        try {
            fdNum = handoff.handoff(verdict, mem);
        } catch (LinuxException e) {
            counters.increment(Counter.HANDOFF_FAILED);
            return;
        }
        long cHi = verdict.clientHi();
        long cLo = verdict.clientLo();
        int clientPort = verdict.clientPort();
        long lHi = verdict.localHi();
        long lLo = verdict.localLo();
        live.put(cHi, cLo, clientPort, lHi, lLo, (long) verdict.isn() << 32 | (verdict.clientIsn() & 0xffffffffL));
        counters.increment(Counter.HANDOFFS);
        // Open the zero window with an in-sequence ACK: the client may now send its request.
        long at = replies.begin(ring.memory(), rxFrame, verdict.ipv6());
        replies.send(handshake.windowUpdate(verdict, handoff.lastReceiveWindow(), replies.buffer(), at),
                verdict.ipv6(), cHi, cLo);
        int isn = verdict.isn();
        sink.adopt(fdNum, verdict, () -> {
            live.remove(cHi, cLo, clientPort, lHi, lLo);
            closed.add(cHi, cLo, clientPort, lHi, lLo, isn, System.nanoTime() / 1_000_000L);
            liveCount = live.size();
        });
    }

    /** Answers the verified final ACK with an in-sequence RST: no socket, the client fails at once. */
    private void refuse(Counter why) {
        long at = replies.begin(ring.memory(), rxFrame, verdict.ipv6());
        replies.send(handshake.reset(verdict, replies.buffer(), at), verdict.ipv6(), verdict.clientHi(),
                verdict.clientLo());
        counters.increment(why);
    }

    @Override
    public void close() {
        // The ring and sender are closed by their owner after the loop has stopped.
    }
}
