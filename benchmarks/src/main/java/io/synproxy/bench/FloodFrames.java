package io.synproxy.bench;

import io.synproxy.testsupport.TcpPacket;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * Builds one flood frame (Ethernet + IPv4 + TCP with options, both checksums) at a time, in place, with the tests'
 * {@link TcpPacket} (Linux's option layout: MSS, SACK-permitted + timestamps, NOP + window scale), not with the
 * product's writer, so that a writer bug cannot hide itself from the flood. Nothing is allocated per frame.
 */
final class FloodFrames {
    static final int ETH_LEN = TcpPacket.ETH_LEN;

    private final TcpPacket packet;
    private final byte[] srcMac;
    private final byte[] dstMac;
    private final TxRingFlood.Kind kind;
    private final SplittableRandom random;

    FloodFrames(byte[] srcMac, byte[] dstMac, int dst, int dstPort, TxRingFlood.Kind kind, SplittableRandom random) {
        this.srcMac = srcMac.clone();
        this.dstMac = dstMac.clone();
        this.kind = kind;
        this.random = random;
        this.packet = TcpPacket.ipv4(0, dst).ports(0, dstPort);
        if (kind == TxRingFlood.Kind.SYN) {
            packet.flags(TcpPacket.SYN).window(64240).mss(1460).wscale(7).sackPermitted(true);
        } else {
            packet.flags(TcpPacket.ACK).window(502);
        }
    }

    /** Writes the next frame at {@code off} (which must have 14 + 60 bytes); returns its length. */
    int write(MemorySegment seg, long off) {
        packet.srcIpv4(randomSource()).srcPort(1024 + random.nextInt(64512)).seq(random.nextInt());
        if (kind == TxRingFlood.Kind.SYN) {
            packet.timestamps(random.nextInt(), 0);
        } else {
            packet.ack(random.nextInt()).timestamps(random.nextInt(), random.nextInt());
        }
        return packet.writeFrameTo(seg, off, dstMac, srcMac);
    }

    /** A random unicast source outside 0/8, 10/8 (the bench's own hosts) and 127/8. */
    private int randomSource() {
        while (true) {
            int a = random.nextInt();
            int first = a >>> 24;
            if (first != 0 && first != 10 && first != 127 && first < 224) {
                return a;
            }
        }
    }
}
