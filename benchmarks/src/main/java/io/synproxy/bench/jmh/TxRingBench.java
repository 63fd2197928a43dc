package io.synproxy.bench.jmh;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.frontend.Admission;
import io.synproxy.frontend.GateSettings;
import io.synproxy.frontend.PacketRing;
import io.synproxy.frontend.Replies;
import io.synproxy.frontend.SegmentGate;
import io.synproxy.frontend.TxRing;
import io.synproxy.frontend.TxRingReplies;
import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handoff.Handoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.Reject;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * The whole user-space path of one flood SYN as {@code FrontendHandle} runs it with the TX ring: the SYN is read
 * from a capture-ring frame (tpacket2_hdr + sockaddr_ll + IP) by the product's {@link SegmentGate} (parse, tuple
 * lookups, cookie minted), and the SYN/ACK written by {@link TxRingReplies}
 * in place into a TX ring frame (virtio header, then the Ethernet frame to the SYN's source MAC), queued, and
 * flushed every 32 frames (a loop turn). Minus the syscalls: the rings are plain memory and this
 * benchmark plays the kernel, handing every TX frame back once the ring has gone round (one pass over the
 * status words per 4096 SYNs). Must show ≈ 0 B/op.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class TxRingBench {
    private static final int N = 1024;
    private static final int RX_FRAME = 256;
    private static final long NET = 80;
    private static final int TX_FRAMES = 4096;
    private static final int TURN = 32;

    private final int[] lengths = new int[N];
    private Arena arena;
    private MemorySegment rx;
    private MemorySegment txMemory;
    private TxRingReplies replies;
    private SegmentGate gate;
    private long nowMillis;
    private int i;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        Handshake handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)), 1460, 7, true);
        MemorySegment syns = Packets.syns(arena, N, 42, lengths);
        rx = arena.allocate((long) N * RX_FRAME, 8);
        for (int k = 0; k < N; k++) {
            long frame = (long) k * RX_FRAME;
            rx.set(ValueLayout.JAVA_INT, frame, 1);
            rx.set(ValueLayout.JAVA_INT, frame + 36, 0);
            rx.set(ValueLayout.JAVA_SHORT, frame + 40, (short) 1);
            rx.set(ValueLayout.JAVA_BYTE, frame + 43, (byte) 6);
            for (int b = 0; b < 6; b++) {
                rx.set(ValueLayout.JAVA_BYTE, frame + 44 + b, (byte) (0x02 + k + b));
            }
            MemorySegment.copy(syns, (long) k * Packets.SLOT, rx, frame + NET, lengths[k]);
        }
        txMemory = arena.allocate((long) TX_FRAMES * TxRing.FRAME_SIZE, 4096);
        TxRing ring = TxRing.inMemory(txMemory, TX_FRAMES, new byte[] {0x02, 0, 0, 0, 0, 1}, true);
        MemorySegment rawBuffer = arena.allocate(TxRing.FRAME_SIZE, 8);
        Replies raw = new Replies() {
            @Override
            public MemorySegment buffer() {
                return rawBuffer;
            }

            @Override
            public boolean send(int length, long hi, long lo) {
                throw new IllegalStateException("a flood SYN fell back to the raw socket");
            }
        };
        replies = new TxRingReplies(ring, raw, new Counters());
        Handoff handoff = new Handoff() {
            @Override
            public int handoff(AckVerdict v, MemorySegment packet) {
                throw new IllegalStateException("no final ACK in a SYN flood");
            }

            @Override
            public int lastReceiveWindow() {
                return 1 << 20;
            }
        };
        ConnectionSink none = (fd, v, onClose) -> { };
        gate = new SegmentGate(new GateSettings(true, false, new int[0], 1 << 20, 0), handshake, handoff, replies,
                none, Admission.ALL, new Counters(), SegmentGate::monotonicMillis);
        nowMillis = SegmentGate.monotonicMillis();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    /** Capture frame in, SYN/ACK queued in the TX ring (parse + SipHash + write + checksums + Ethernet header). */
    @Benchmark
    public boolean synToTxRing() {
        int n = i++;
        int k = n & (N - 1);
        long frame = (long) k * RX_FRAME;
        replies.replyTo(rx, frame);
        boolean sent = gate.onPacket(rx, frame + NET, lengths[k], PacketRing.TP_STATUS_CSUM_VALID, nowMillis)
                == Reject.NONE;
        if ((n & (TURN - 1)) == TURN - 1) {
            gate.endOfDrain();
        }
        if ((n & (TX_FRAMES - 1)) == TX_FRAMES - 1) {
            kernelSentEverything();
        }
        return sent;
    }

    private void kernelSentEverything() {
        for (long f = 0; f < TX_FRAMES; f++) {
            txMemory.set(ValueLayout.JAVA_INT, f * TxRing.FRAME_SIZE, 0);
        }
    }
}
