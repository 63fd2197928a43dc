package io.synproxy.frontend;

import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handoff.Handoff;
import io.synproxy.handshake.Handshake;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * The flood path compiled before the port opens. A freshly started JVM compiles the ring drain, the gate and the
 * SYN/ACK writer when the first flood arrives, and measured here that costs the proxy more CPU than answering the
 * flood: a C2 compiler thread took 1.4 s of CPU in the first 6 s of a 45k SYN/s flood (about 5 us per SYN/ACK
 * answered, on top of the 12 us the answer cost), at the moment real clients most need the loops.
 *
 * <p>So at start-up the same classes the loops run ({@link FrontendHandle}, {@link SegmentGate},
 * {@link TxRingReplies} and the loop's own fallback and admission types) answer synthetic SYNs from a capture ring
 * and into a TX ring that are both plain memory ({@link PacketRing#inMemory}, {@link TxRing#inMemory}): nothing is
 * sent or received. The same receiver types matter: compiled code that has only ever seen a stand-in type traps
 * and is compiled again when the real one comes.
 */
public final class FrontendWarmup {
    private static final int RX_FRAMES = FrontendHandle.FRAMES_PER_TURN;
    /** SYNs run through the drain, whole drains of them: enough for the C2 compiler's thresholds. */
    static final int SYNS = 61_440 / RX_FRAMES * RX_FRAMES;
    private static final int TX_FRAMES = 2 * RX_FRAMES;
    /** Where the IP header starts in a capture frame, as the kernel lays out an Ethernet frame's. */
    private static final long NET = 80;
    private static final int ARPHRD_ETHER = 1;
    private static final byte[] OUR_MAC = {0x02, 0, 0, 0, 0, 1};

    private FrontendWarmup() {
    }

    /**
     * Runs {@link #SYNS} SYNs to {@code port} from random documentation-range sources through a gate built from these
     * parts. A SYN never reaches the handoff or the sink; they are passed so that the gate is the loops' own kind.
     *
     * @param v4Dst the protected IPv4 address (mapped form, see {@link TcpSegment#mapped}), used when
     *              {@code settings} protects IPv4
     * @param v6DstHi the protected IPv6 address, high half, used when {@code settings} protects IPv6
     * @param port a protected port
     * @return the counters of the warm-up gate (SYN/ACKs written into the TX ring: {@link Counter#TX_RING})
     */
    public static Counters run(GateSettings settings, Handshake handshake, Replies fallback, Admission admission,
                               Handoff handoff, ConnectionSink sink, long v4Dst, long v6DstHi, long v6DstLo, int port) {
        Counters counters = new Counters();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment rx = arena.allocate((long) RX_FRAMES * PacketRing.HEADER_FRAME_SIZE, 4096);
            MemorySegment tx = arena.allocate((long) TX_FRAMES * TxRing.FRAME_SIZE, 4096);
            PacketRing ring = PacketRing.inMemory(rx, PacketRing.HEADER_FRAME_SIZE, RX_FRAMES);
            TxRingReplies replies = new TxRingReplies(TxRing.inMemory(tx, TX_FRAMES, OUR_MAC), fallback, counters);
            SegmentGate gate = new SegmentGate(settings, handshake, handoff, replies, sink, admission, counters,
                    SegmentGate::monotonicMillis);
            FrontendHandle handle = new FrontendHandle(ring, gate, replies, counters);
            TcpSegmentWriter writer = new TcpSegmentWriter();
            SplittableRandom random = new SplittableRandom(0x5eed);
            boolean v6 = !settings.ipv4();
            for (int drains = 0; drains < SYNS / RX_FRAMES; drains++) {
                for (int f = 0; f < RX_FRAMES; f++) {
                    long frame = (long) f * PacketRing.HEADER_FRAME_SIZE;
                    if (settings.ipv6() && settings.ipv4()) {
                        v6 = !v6;
                    }
                    // 198.18.0.0/15 (benchmarking) and 2001:db8::/32 (documentation): never anyone's address.
                    writer.from(v6 ? 0x2001_0db8_0000_0000L | random.nextInt() & 0xffff_ffffL : 0,
                                    v6 ? random.nextLong() : TcpSegment.mapped(0xC612_0000 | random.nextInt() & 0x1_ffff),
                                    1024 + random.nextInt(60_000))
                            .to(v6 ? v6DstHi : 0, v6 ? v6DstLo : v4Dst, port).seq(random.nextInt())
                            .flags(TcpFlyweight.SYN).window(64240);
                    // The option sets SYNs come with (none: most flood tools; Linux's; Windows' without timestamps),
                    // so that no branch of the path is left untaken and compiled as a trap.
                    int options = random.nextInt(4);
                    if (options > 0) {
                        writer.mss(1460);
                    }
                    if (options > 1) {
                        writer.wscale(7).sackPermitted(true).timestamps(options == 2, random.nextInt(), 0);
                    }
                    int length = writer.write(rx, frame + NET);
                    rx.set(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_SNAPLEN, length);
                    rx.set(ValueLayout.JAVA_SHORT, frame + PacketRing.FRAME_NET, (short) NET);
                    rx.set(ValueLayout.JAVA_INT, frame + TxRingReplies.SLL_IFINDEX, 0);
                    rx.set(ValueLayout.JAVA_SHORT, frame + PacketRing.LL_HATYPE, (short) ARPHRD_ETHER);
                    rx.set(ValueLayout.JAVA_BYTE, frame + PacketRing.LL_PKTTYPE, (byte) PacketRing.PACKET_HOST);
                    rx.set(ValueLayout.JAVA_BYTE, frame + TxRingReplies.SLL_HALEN, (byte) 6);
                    MemorySegment.copy(OUR_MAC, 0, rx, ValueLayout.JAVA_BYTE, frame + TxRingReplies.SLL_ADDR, 6);
                    rx.set(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_STATUS,
                            PacketRing.TP_STATUS_USER | PacketRing.TP_STATUS_CSUM_VALID);
                }
                handle.drain();
                // The kernel's part: every queued reply sent.
                tx.fill((byte) 0);
            }
        }
        return counters;
    }
}
