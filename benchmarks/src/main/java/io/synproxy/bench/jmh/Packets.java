package io.synproxy.bench.jmh;

import io.synproxy.packet.Ipv4TcpWriter;
import io.synproxy.packet.TcpFlyweight;

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
        MemorySegment seg = arena.allocate((long) n * Ipv4TcpWriter.MAX_LENGTH, 8);
        Ipv4TcpWriter w = new Ipv4TcpWriter();
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            lengths[i] = w.write(seg, (long) i * Ipv4TcpWriter.MAX_LENGTH, r.nextInt(), SERVER,
                    1024 + r.nextInt(60000), PORT, r.nextInt(), 0, TcpFlyweight.SYN, 64240,
                    CLIENT_MSS, CLIENT_WSCALE, true, true, r.nextInt(), 0);
        }
        return seg;
    }

    /** Writes a final ACK (timestamps on) at {@code off}; returns its length. */
    static int ack(MemorySegment seg, long off, int src, int srcPort, int seq, int ack, int tsVal, int tsEcr) {
        return new Ipv4TcpWriter().write(seg, off, src, SERVER, srcPort, PORT, seq, ack, TcpFlyweight.ACK, 502,
                -1, -1, false, true, tsVal, tsEcr);
    }
}
