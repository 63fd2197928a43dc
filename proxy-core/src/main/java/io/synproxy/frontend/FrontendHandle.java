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
    private final Handshake handshake;
    private final RepairHandoff handoff;
    private final Counters counters;
    private final ConnectionSink sink;
    private final LiveTuples live;
    private RecentlyClosed closed;
    private final int maxConnections;
    private final FileDescriptor fd;
    private final Ipv4TcpParser parser = new Ipv4TcpParser();
    private final AckVerdict verdict = new AckVerdict();

    public FrontendHandle(PacketRing ring, RawSender sender, Handshake handshake, RepairHandoff handoff,
                          Counters counters, ConnectionSink sink, int maxConnections) {
        this.ring = ring;
        this.sender = sender;
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

    /** Processes every block the kernel has handed over. */
    public void drain() {
        MemorySegment mem = ring.memory();
        long nowMillis = System.nanoTime() / 1_000_000L;
        int tsNow = (int) nowMillis & ~1;
        long block;
        while ((block = ring.nextBlock()) >= 0) {
            if (ring.blockLosing(block)) {
                counters.add(Counter.RING_DROPS, ring.takeDrops());
            }
            int packets = mem.get(ValueLayout.JAVA_INT, block + PacketRing.BLOCK_NUM_PKTS);
            long pkt = block + Integer.toUnsignedLong(mem.get(ValueLayout.JAVA_INT, block + PacketRing.BLOCK_FIRST_PKT));
            for (int i = 0; i < packets; i++) {
                int snaplen = mem.get(ValueLayout.JAVA_INT, pkt + PacketRing.PKT_SNAPLEN);
                int status = mem.get(ValueLayout.JAVA_INT, pkt + PacketRing.PKT_STATUS);
                int net = Short.toUnsignedInt(mem.get(ValueLayout.JAVA_SHORT, pkt + PacketRing.PKT_NET));
                // Offloaded (veth, loopback) or already verified checksums are not recomputed.
                boolean verify = (status & (PacketRing.TP_STATUS_CSUMNOTREADY | PacketRing.TP_STATUS_CSUM_VALID)) == 0;
                onPacket(mem, pkt + net, snaplen, verify, tsNow, nowMillis);
                pkt += Integer.toUnsignedLong(mem.get(ValueLayout.JAVA_INT, pkt + PacketRing.PKT_NEXT));
            }
            ring.releaseBlock(block);
        }
        liveCount = live.size();
    }

    private void onPacket(MemorySegment mem, long ipOffset, int length, boolean verifyChecksum, int tsNow,
                          long nowMillis) {
        counters.increment(Counter.RING_PACKETS);
        Reject reject = parser.parse(mem, ipOffset, length, verifyChecksum);
        if (reject != Reject.NONE) {
            counters.reject(reject);
            return;
        }
        int flags = parser.flags();
        if (Handshake.isSyn(flags)) {
            closed.forget(parser.src(), parser.srcPort(), parser.dst());
            onSyn(tsNow);
        } else if (live.contains(parser.src(), parser.srcPort(), parser.dst())) {
            counters.increment(Counter.ACK_LIVE);
            if (Handshake.isAck(flags) && parser.payloadLength() == 0) {
                countReplay();
            }
        } else if (closed.contains(parser.src(), parser.srcPort(), parser.dst(), nowMillis)) {
            counters.increment(Counter.SEGMENTS_AFTER_CLOSE);
        } else if (Handshake.isAck(flags)) {
            onAck(mem);
        } else {
            counters.increment(Counter.OTHER_SEGMENTS);
        }
    }

    /** A repeat of a live connection's final ACK (or its probe form): a replay. The tuple keeps its one socket. */
    private void countReplay() {
        long v = live.valueOf(parser.src(), parser.srcPort(), parser.dst(), 0L);
        int isn = (int) (v >>> 32);
        int clientIsn = (int) v;
        int seq = parser.seq();
        if (parser.ack() == isn + 1 && (seq == clientIsn + 1 || seq == clientIsn)) {
            counters.increment(Counter.REPLAY_LIVE);
        }
    }

    private void onSyn(int tsNow) {
        counters.increment(Counter.SYN_RECEIVED);
        if (draining) {
            counters.increment(Counter.DRAIN_SYN);
            return;
        }
        int length = handshake.synAck(parser, sender.buffer(), 0, tsNow);
        if (sender.send(length, parser.src())) {
            counters.increment(Counter.SYNACK_SENT);
        } else {
            counters.increment(Counter.SYNACK_SEND_FAILED);
        }
    }

    private void onAck(MemorySegment mem) {
        if (!handshake.verifyAck(parser, verdict)) {
            counters.increment(Counter.ACK_INVALID);
            return;
        }
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
        int client = verdict.clientAddress();
        int clientPort = verdict.clientPort();
        int local = verdict.localAddress();
        live.put(client, clientPort, local, (long) verdict.isn() << 32 | (verdict.clientIsn() & 0xffffffffL));
        counters.increment(Counter.HANDOFFS);
        // Open the zero window with an in-sequence ACK: the client may now send its request.
        int length = handshake.windowUpdate(verdict, handoff.lastReceiveWindow(), sender.buffer(), 0);
        sender.send(length, client);
        sink.adopt(fdNum, verdict, () -> {
            live.remove(client, clientPort, local);
            closed.add(client, clientPort, local, System.nanoTime() / 1_000_000L);
            liveCount = live.size();
        });
    }

    /** Answers the verified final ACK with an in-sequence RST: no socket, the client fails at once. */
    private void refuse(Counter why) {
        int length = handshake.reset(verdict, sender.buffer(), 0);
        sender.send(length, verdict.clientAddress());
        counters.increment(why);
    }

    @Override
    public void close() {
        // The ring and sender are closed by their owner after the loop has stopped.
    }
}
