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
import io.synproxy.packet.MartianSource;
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

    private final PacketRing ring;
    private final RawSender sender;
    private final RawSender sender6;
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
    /** The frame being processed came in on the loopback device. */
    private boolean loopbackFrame;

    /**
     * @param sender the IPv4 raw sender, or null when no IPv4 address is protected
     * @param sender6 the IPv6 raw sender, or null when no IPv6 address is protected
     * @param ports6 the protected IPv6 ports: checked here for IPv6 packets with extension headers, which the
     *               filter passes without looking at their port
     */
    public FrontendHandle(PacketRing ring, RawSender sender, RawSender sender6, int[] ports6, Handshake handshake,
                          RepairHandoff handoff, Counters counters, ConnectionSink sink, int maxConnections) {
        this.ring = ring;
        this.sender = sender;
        this.sender6 = sender6;
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

    /** Processes every frame the kernel has handed over. */
    public void drain() {
        MemorySegment mem = ring.memory();
        long nowMillis = System.nanoTime() / 1_000_000L;
        int tsNow = (int) nowMillis & ~1;
        long frame;
        while ((frame = ring.nextFrame()) >= 0) {
            int status = ring.status(frame);
            if ((status & PacketRing.TP_STATUS_LOSING) != 0) {
                counters.add(Counter.RING_DROPS, ring.takeDrops());
            }
            if (!ring.forThisHost(frame)) {
                counters.increment(Counter.NOT_FOR_HOST);
                ring.releaseFrame(frame);
                continue;
            }
            int snaplen = mem.get(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_SNAPLEN);
            int net = Short.toUnsignedInt(mem.get(ValueLayout.JAVA_SHORT, frame + PacketRing.FRAME_NET));
            // Offloaded (veth, loopback) or already verified checksums are not recomputed.
            boolean verify = (status & (PacketRing.TP_STATUS_CSUMNOTREADY | PacketRing.TP_STATUS_CSUM_VALID)) == 0;
            onPacket(mem, frame + net, snaplen, verify, ring.fromLoopback(frame), tsNow, nowMillis);
            ring.releaseFrame(frame);
        }
        liveCount = live.size();
    }

    /** @param loopback the frame came in on the loopback device: a local client may have our address or 127/8 */
    private void onPacket(MemorySegment mem, long ipOffset, int length, boolean verifyChecksum, boolean loopback,
                          int tsNow, long nowMillis) {
        counters.increment(Counter.RING_PACKETS);
        loopbackFrame = loopback;
        if (length > 0 && (mem.get(ValueLayout.JAVA_BYTE, ipOffset) & 0xF0) == 0x60) {
            onPacket6(mem, ipOffset, length, verifyChecksum, loopback, tsNow, nowMillis);
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
        if (!loopback && MartianSource.ipv4(parser.src(), parser.dst())) {
            counters.increment(Counter.MARTIAN_SOURCE);
            return;
        }
        onSegment(false, parser.flags(), 0, AckVerdict.mapped(parser.src()), parser.srcPort(), 0,
                AckVerdict.mapped(parser.dst()), parser.seq(), parser.ack(), parser.payloadLength(), mem, tsNow, nowMillis);
    }

    private void onPacket6(MemorySegment mem, long ipOffset, int length, boolean verifyChecksum, boolean loopback,
                           int tsNow, long nowMillis) {
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
        if (!loopback && MartianSource.ipv6(parser6.srcHi(), parser6.srcLo(), parser6.dstHi(), parser6.dstLo())) {
            counters.increment(Counter.MARTIAN_SOURCE);
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
        // On loopback it is our own timestamp echo (see echoTimestamp), seen again when every interface is captured.
        if (!loopbackFrame && ack == isn + 1 && (seq == clientIsn + 1 || seq == clientIsn)) {
            counters.increment(Counter.REPLAY_LIVE);
        }
    }

    private void onSyn(boolean v6, long cHi, long cLo, int tsNow) {
        counters.increment(Counter.SYN_RECEIVED);
        if (draining) {
            counters.increment(Counter.DRAIN_SYN);
            return;
        }
        boolean sent = v6
                ? sender6.send6(handshake.synAck(parser6, sender6.buffer(), 0, tsNow), cHi, cLo)
                : sender.send(handshake.synAck(parser, sender.buffer(), 0, tsNow), (int) cLo);
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
        echoTimestamp();
        // Open the zero window with an in-sequence ACK: the client may now send its request.
        if (verdict.ipv6()) {
            sender6.send6(handshake.windowUpdate(verdict, handoff.lastReceiveWindow(), sender6.buffer(), 0), cHi, cLo);
        } else {
            sender.send(handshake.windowUpdate(verdict, handoff.lastReceiveWindow(), sender.buffer(), 0),
                    verdict.clientAddress());
        }
        int isn = verdict.isn();
        sink.adopt(fdNum, verdict, () -> {
            live.remove(cHi, cLo, clientPort, lHi, lLo);
            closed.add(cHi, cLo, clientPort, lHi, lLo, isn, System.nanoTime() / 1_000_000L);
            liveCount = live.size();
        });
    }

    /**
     * Hands the new socket the client's TSval (the final ACK again, sent to ourselves through loopback), so its
     * first segment echoes it instead of TSecr 0. Before the window update: the client sends nothing earlier.
     */
    private void echoTimestamp() {
        if (verdict.ipv6()) {
            int length = handshake.timestampEcho(verdict, sender6.buffer(), 0);
            if (length > 0) {
                sender6.send6(length, verdict.localHi(), verdict.localLo());
            }
        } else {
            int length = handshake.timestampEcho(verdict, sender.buffer(), 0);
            if (length > 0) {
                sender.send(length, verdict.localAddress());
            }
        }
    }

    /** Answers the verified final ACK with an in-sequence RST: no socket, the client fails at once. */
    private void refuse(Counter why) {
        if (verdict.ipv6()) {
            sender6.send6(handshake.reset(verdict, sender6.buffer(), 0), verdict.clientHi(), verdict.clientLo());
        } else {
            sender.send(handshake.reset(verdict, sender.buffer(), 0), verdict.clientAddress());
        }
        counters.increment(why);
    }

    @Override
    public void close() {
        // The ring and sender are closed by their owner after the loop has stopped.
    }
}
