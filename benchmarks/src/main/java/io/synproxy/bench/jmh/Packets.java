package io.synproxy.bench.jmh;

import io.synproxy.testsupport.TcpPacket;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/** Realistic client segments, built once with the tests' own {@link TcpPacket}, for the benchmarks to parse. */
final class Packets {
    static final int SERVER = 0x0A00_0001; // 10.0.0.1
    static final int PORT = 80;
    /** A Linux client's SYN options: MSS 1460, SACK-permitted, timestamps, window scale 7. */
    static final int CLIENT_MSS = 1460;
    static final int CLIENT_WSCALE = 7;
    /** Bytes per packet slot: 20 of IPv4, 20 of TCP, 20 of options. */
    static final int SLOT = 60;

    private Packets() {
    }

    /** {@code n} SYNs from random sources, each in its own 60-byte slot of the returned segment. */
    static MemorySegment syns(Arena arena, int n, long seed, int[] lengths) {
        MemorySegment seg = arena.allocate((long) n * SLOT, 8);
        TcpPacket syn = TcpPacket.ipv4(0, SERVER).flags(TcpPacket.SYN).window(64240).mss(CLIENT_MSS)
                .wscale(CLIENT_WSCALE).sackPermitted(true);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            lengths[i] = syn.srcIpv4(r.nextInt()).ports(1024 + r.nextInt(60000), PORT).seq(r.nextInt())
                    .timestamps(r.nextInt(), 0).writeTo(seg, (long) i * SLOT);
        }
        return seg;
    }

    /** Writes a final ACK (timestamps on) at {@code off}; returns its length. */
    static int ack(MemorySegment seg, long off, int src, int srcPort, int seq, int ack, int tsVal, int tsEcr) {
        return TcpPacket.ipv4(src, SERVER).ports(srcPort, PORT).seq(seq).ack(ack).flags(TcpPacket.ACK).window(502)
                .timestamps(tsVal, tsEcr).writeTo(seg, off);
    }
}
