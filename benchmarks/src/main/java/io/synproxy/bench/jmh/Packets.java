package io.synproxy.bench.jmh;

import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegmentWriter;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/** Realistic client segments, built once with the product's own writer, for the benchmarks to parse. */
final class Packets {
    static final int SERVER = 0x0A00_0001; // 10.0.0.1
    static final int PORT = 80;
    /** A Linux client's SYN options: MSS 1460, SACK-permitted, timestamps, window scale 7. */
    static final int CLIENT_MSS = 1460;
    static final int CLIENT_WSCALE = 7;

    private Packets() {
    }

    /** {@code n} SYNs from random sources, each in its own 64-byte slot of the returned segment. */
    static MemorySegment syns(Arena arena, int n, long seed, int[] lengths) {
        MemorySegment seg = arena.allocate((long) n * TcpSegmentWriter.MAX_LENGTH_IPV4, 8);
        TcpSegmentWriter w = new TcpSegmentWriter();
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            lengths[i] = w.from(r.nextInt(), 1024 + r.nextInt(60000)).to(SERVER, PORT).seq(r.nextInt()).ack(0)
                    .flags(TcpFlyweight.SYN).window(64240).mss(CLIENT_MSS).wscale(CLIENT_WSCALE).sackPermitted(true)
                    .timestamps(r.nextInt(), 0).write(seg, (long) i * TcpSegmentWriter.MAX_LENGTH_IPV4);
        }
        return seg;
    }

    /** Writes a final ACK (timestamps on) at {@code off}; returns its length. */
    static int ack(MemorySegment seg, long off, int src, int srcPort, int seq, int ack, int tsVal, int tsEcr) {
        return new TcpSegmentWriter().from(src, srcPort).to(SERVER, PORT).seq(seq).ack(ack).flags(TcpFlyweight.ACK)
                .window(502).timestamps(tsVal, tsEcr).write(seg, off);
    }
}
