package io.synproxy.bench.jmh;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.frontend.AccessAdmission;
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
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;
import io.synproxy.policy.SourceAccess;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The SYN path with the deny list asked first. {@code gateSyn} is the product's own {@link SegmentGate} with the
 * {@link AccessAdmission} the event loops use (family check, parse, live-table miss, lookup, cookie SYN/ACK into the
 * reply buffer); {@code synWithLookup} is parse, lookup and SYN/ACK alone. {@code prefixes} deny prefixes are loaded
 * (0: the lists are empty, the path as it was before lists existed), half IPv4 half IPv6, random lengths; the
 * flood's random sources almost never match, so nearly every SYN is answered and the lookup is pure added cost.
 * {@code lookup} measures the lookup alone. 65,536 distinct SYNs (3.9 MB, read in order as from a ring) and 262,144
 * distinct lookup sources are cycled, so that the lookup's lines are not all kept in L1/L2 by a short cycle of
 * sources: with 1024 sources every line the lookups touch stays cached and the cost of a large list is hidden.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class SourceAccessBench {
    private static final int N = 1 << 16;
    private static final int SOURCES = 1 << 18;
    private static final long SLOT = Packets.SLOT;
    /** As {@code FrontendHandle.PREFETCH_BATCH}. */
    private static final int PREFETCH_BATCH = 8;

    @Param({"0", "100000"})
    public int prefixes;

    private Arena arena;
    private Handshake handshake;
    private SourceAccess access;
    private AccessAdmission admission;
    private final TcpSegment parser = new TcpSegment();
    private MemorySegment syns;
    private final int[] synLengths = new int[N];
    private MemorySegment out;
    private final long[] sources = new long[2 * SOURCES];
    private int i;
    private int j;
    private SegmentGate gate;
    private long nowMillis;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        arena = Arena.ofShared();
        handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)), 1460, 7, true);
        out = arena.allocate(TcpSegmentWriter.MAX_LENGTH, 8);
        syns = Packets.syns(arena, N, 42, synLengths);
        SplittableRandom r = new SplittableRandom(11);
        for (int k = 0; k < SOURCES; k++) {
            boolean v4 = (k & 1) == 0;
            sources[2 * k] = v4 ? 0 : 0x2000_0000_0000_0000L | r.nextLong() >>> 4;
            sources[2 * k + 1] = v4 ? TcpSegment.mapped(r.nextInt()) : r.nextLong();
        }
        List<String> lines = new ArrayList<>(prefixes);
        for (int k = 0; k < prefixes; k++) {
            if (k % 2 == 0) {
                int a = r.nextInt();
                lines.add((a >>> 24) + "." + (a >>> 16 & 0xff) + "." + (a >>> 8 & 0xff) + "." + (a & 0xff) + "/"
                        + (16 + r.nextInt(17)));
            } else {
                lines.add(String.format("2%03x:%x:%x::/%d", r.nextInt(0x1000), r.nextInt(0x10000), r.nextInt(0x10000),
                        16 + r.nextInt(49)));
            }
        }
        // Through a file, as an operator would load them.
        Path file = Files.createTempFile("deny-", ".txt");
        try {
            Files.write(file, lines);
            access = SourceAccess.load(List.of(), List.of(), prefixes == 0 ? List.of() : List.of(file), List.of());
        } finally {
            Files.delete(file);
        }
        admission = new AccessAdmission(access);
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
            @Override
            public int handoff(AckVerdict v, MemorySegment packet) {
                throw new IllegalStateException("a SYN is never handed off");
            }

            @Override
            public int lastReceiveWindow() {
                return 1 << 20;
            }
        };
        ConnectionSink none = (fd, v, onClose) -> { };
        gate = new SegmentGate(new GateSettings(true, true, new int[] {Packets.PORT}, 1 << 20, 0), handshake, handoff,
                replies, none, admission, new Counters(), SegmentGate::monotonicMillis);
        nowMillis = SegmentGate.monotonicMillis();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    /** SYN in, deny-list lookup, cookie SYN/ACK bytes out. */
    @Benchmark
    public int synWithLookup() {
        int k = i++ & (N - 1);
        if (parser.parse4(syns, k * SLOT, synLengths[k], false) != Reject.NONE) {
            return -1;
        }
        if (admission.refuse(parser) != null) {
            return -2;
        }
        return handshake.synAck(parser, out, 0, 1000);
    }

    /** A flood SYN through the gate and the deny list, SYN/ACK written into the reply buffer. */
    @Benchmark
    public Reject gateSyn() {
        int k = i++ & (N - 1);
        return gate.onPacket(syns, k * SLOT, synLengths[k], PacketRing.TP_STATUS_CSUM_VALID, nowMillis);
    }

    /**
     * {@link #gateSyn} as the ring drain calls the gate ({@code FrontendHandle#drain}): at every
     * {@code PREFETCH_BATCH}th frame, the batch after the current one is read ahead ({@link SegmentGate#prefetch}),
     * when a list is in force.
     */
    @Benchmark
    public Reject gateSynDrain() {
        int k = i++ & (N - 1);
        if ((k & (PREFETCH_BATCH - 1)) == 0 && gate.prefetches()) {
            for (int a = PREFETCH_BATCH; a < 2 * PREFETCH_BATCH; a++) {
                int f = (k + a) & (N - 1);
                gate.prefetch(syns, f * SLOT, synLengths[f]);
            }
        }
        return gate.onPacket(syns, k * SLOT, synLengths[k], PacketRing.TP_STATUS_CSUM_VALID, nowMillis);
    }

    /** The lookup alone, over 262,144 random sources, half IPv4 (mapped) and half IPv6. */
    @Benchmark
    public boolean lookup() {
        int k = (j++ & (SOURCES - 1)) * 2;
        return access.permits(sources[k], sources[k + 1]);
    }
}
