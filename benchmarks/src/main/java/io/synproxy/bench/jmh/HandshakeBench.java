package io.synproxy.bench.jmh;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.frontend.Admission;
import io.synproxy.frontend.GateSettings;
import io.synproxy.frontend.PacketRing;
import io.synproxy.frontend.Replies;
import io.synproxy.frontend.SegmentGate;
import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handoff.Handoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The per-packet work of the front end. The {@code gate*} benchmarks drive the product's own {@link SegmentGate}
 * (counters, family check, parse, tuple lookups in the live and recently-closed tables, cookie, reply written into a
 * preallocated buffer) with replies that skip only the syscall; the others time the segment path alone (parse of
 * either family + {@link Handshake}), the figures kept from before the gate existed. 1024 distinct packets are cycled
 * so that the branch predictor cannot learn one packet.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class HandshakeBench {
    private static final int N = 1024;
    private static final long SLOT = TcpSegmentWriter.MAX_LENGTH_IPV4;
    private static final ValueLayout.OfInt NET_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** Whether the TCP checksum is verified in software (false: the NIC or veth reported it valid/offloaded). */
    @Param({"true", "false"})
    public boolean verifyChecksum;

    private Arena arena;
    private Handshake handshake;
    private final TcpSegment parser = new TcpSegment();
    private final AckVerdict verdict = new AckVerdict();
    private MemorySegment syns;
    private final int[] synLengths = new int[N];
    private MemorySegment validAcks;
    private final int[] validLengths = new int[N];
    private MemorySegment forgedAcks;
    private final int[] forgedLengths = new int[N];
    private final TcpSegment parser6 = new TcpSegment();
    private MemorySegment forgedAcks6;
    private final int[] forgedLengths6 = new int[N];
    private MemorySegment out;
    private int i;
    private int tsNow;
    private SegmentGate gate;
    private int ringStatus;
    private long nowMillis;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)), 1460, 7, true);
        out = arena.allocate(SLOT, 8);
        syns = Packets.syns(arena, N, 42, synLengths);
        validAcks = arena.allocate(N * SLOT, 8);
        forgedAcks = arena.allocate(N * SLOT, 8);
        SplittableRandom r = new SplittableRandom(7);
        for (int k = 0; k < N; k++) {
            long off = k * SLOT;
            if (parser.parse4(syns, off, synLengths[k], true) != Reject.NONE) {
                throw new IllegalStateException("bad SYN " + k);
            }
            int src = parser.src();
            int sport = parser.srcPort();
            int clientIsn = parser.seq();
            int clientTs = parser.options().tsVal();
            handshake.synAck(parser, out, 0, 1000);
            int isn = out.get(NET_INT, 20 + 4);
            int ourTs = out.get(NET_INT, 20 + 20 + 4 + 4); // after MSS(4) and SACK_PERM + TS kind/len (4)
            validLengths[k] = Packets.ack(validAcks, off, src, sport, clientIsn + 1, isn + 1, clientTs + 1, ourTs);
            forgedLengths[k] = Packets.ack(forgedAcks, off, r.nextInt(), 1024 + r.nextInt(60000), r.nextInt(),
                    r.nextInt(), r.nextInt(), r.nextInt());
            if (parser.parse4(validAcks, off, validLengths[k], true) != Reject.NONE
                    || !handshake.verifyAck(parser, verdict)) {
                throw new IllegalStateException("ACK " + k + " does not verify");
            }
        }
        forgedAcks6 = arena.allocate(N * (long) TcpSegmentWriter.MAX_LENGTH, 8);
        TcpSegmentWriter writer6 = new TcpSegmentWriter();
        for (int k = 0; k < N; k++) {
            long off = k * (long) TcpSegmentWriter.MAX_LENGTH;
            forgedLengths6[k] = writer6.from(r.nextLong(), r.nextLong(), 1024 + r.nextInt(60000))
                    .to(0xfd00_0000_0000_0000L, 1, 8080).seq(r.nextInt()).ack(r.nextInt()).flags(TcpFlyweight.ACK)
                    .window(500).timestamps(r.nextInt(), r.nextInt()).write(forgedAcks6, off);
            if (parser6.parse6(forgedAcks6, off, forgedLengths6[k], true) != Reject.NONE) {
                throw new IllegalStateException("bad IPv6 ACK " + k);
            }
        }
        tsNow = (int) System.nanoTime() & ~1;
        MemorySegment replyBuffer = arena.allocate(TcpSegmentWriter.MAX_LENGTH, 8);
        Replies replies = new Replies() {
            @Override
            public MemorySegment buffer() {
                return replyBuffer;
            }

            @Override
            public boolean send(int length, long hi, long lo) {
                return length > 0;
            }
        };
        Handoff handoff = new Handoff() {
            private int fd;

            @Override
            public int handoff(AckVerdict v, MemorySegment packet) {
                return ++fd;
            }

            @Override
            public int lastReceiveWindow() {
                return 1 << 20;
            }
        };
        ConnectionSink keepOpen = (fd, v, onClose) -> { };
        gate = new SegmentGate(new GateSettings(true, true, new int[] {Packets.PORT, 8080}, 1 << 20, 0), handshake,
                handoff, replies, keepOpen, Admission.ALL, new Counters(), SegmentGate::monotonicMillis);
        ringStatus = verifyChecksum ? 0 : PacketRing.TP_STATUS_CSUM_VALID;
        nowMillis = SegmentGate.monotonicMillis();
        // Every valid ACK's connection is live in the gate: the gateAckLive figure is a live-table hit.
        for (int k = 0; k < N; k++) {
            if (gate.onPacket(validAcks, k * SLOT, validLengths[k], 0, nowMillis) != Reject.NONE) {
                throw new IllegalStateException("gate rejected ACK " + k);
            }
        }
        gate.endOfDrain();
        if (gate.liveConnections() != N) {
            throw new IllegalStateException("not every valid ACK was handed off: " + gate.liveConnections());
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    /** SYN in, cookie SYN/ACK bytes out (parse + SipHash + write + both checksums). */
    @Benchmark
    public int synToSynAck() {
        int k = i++ & (N - 1);
        if (parser.parse(syns, k * SLOT, synLengths[k], verifyChecksum) != Reject.NONE) {
            return -1;
        }
        return handshake.synAck(parser, out, 0, tsNow);
    }

    /** A genuine final ACK: parse, one SipHash, verdict filled. */
    @Benchmark
    public boolean ackValid() {
        int k = i++ & (N - 1);
        return parser.parse(validAcks, k * SLOT, validLengths[k], verifyChecksum) == Reject.NONE
                && handshake.verifyAck(parser, verdict);
    }

    /** A flood ACK with a random cookie: parse, one SipHash for both forms (final ACK, zero-window probe), rejected. */
    @Benchmark
    public boolean ackForged() {
        int k = i++ & (N - 1);
        return parser.parse(forgedAcks, k * SLOT, forgedLengths[k], verifyChecksum) == Reject.NONE
                && handshake.verifyAck(parser, verdict);
    }

    /** The IPv6 flood ACK: parse, one SipHash over the 48-byte message for both forms, rejected. */
    @Benchmark
    public boolean ackForged6() {
        int k = i++ & (N - 1);
        return parser6.parse(forgedAcks6, k * (long) TcpSegmentWriter.MAX_LENGTH, forgedLengths6[k], verifyChecksum)
                == Reject.NONE && handshake.verifyAck(parser6, verdict);
    }

    /** A SYN through the gate: family check, parse, classification, cookie SYN/ACK into the reply buffer. */
    @Benchmark
    public Reject gateSyn() {
        int k = i++ & (N - 1);
        return gate.onPacket(syns, k * SLOT, synLengths[k], ringStatus, nowMillis);
    }

    /** A flood ACK through the gate: parse, live and closed table misses, one SipHash, counted invalid. */
    @Benchmark
    public Reject gateAckForged() {
        int k = i++ & (N - 1);
        return gate.onPacket(forgedAcks, k * SLOT, forgedLengths[k], ringStatus, nowMillis);
    }

    /** The IPv6 flood ACK through the gate. */
    @Benchmark
    public Reject gateAckForged6() {
        int k = i++ & (N - 1);
        return gate.onPacket(forgedAcks6, k * (long) TcpSegmentWriter.MAX_LENGTH, forgedLengths6[k], ringStatus,
                nowMillis);
    }

    /** A replayed final ACK of one of 1024 live connections: parse, live-table hit, counted as a replay. */
    @Benchmark
    public Reject gateAckLive() {
        int k = i++ & (N - 1);
        return gate.onPacket(validAcks, k * SLOT, validLengths[k], ringStatus, nowMillis);
    }
}
