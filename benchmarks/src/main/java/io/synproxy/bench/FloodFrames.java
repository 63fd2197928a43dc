package io.synproxy.bench;

import io.synproxy.linux.Constants;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegmentWriter;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/**
 * Builds one flood frame (Ethernet + IPv4 + TCP with options, both checksums) at a time, in place, with
 * proxy-core's own {@link TcpSegmentWriter} (its option layout is Linux's: MSS, SACK-permitted + timestamps,
 * NOP + window scale). Nothing is allocated per frame.
 */
final class FloodFrames {
    static final int ETH_LEN = 14;
    private static final ValueLayout.OfShort NET_SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final TcpSegmentWriter writer = new TcpSegmentWriter();
    private final byte[] srcMac;
    private final byte[] dstMac;
    private final int dst;
    private final int dstPort;
    private final TxRingFlood.Kind kind;
    private final SplittableRandom random;

    FloodFrames(byte[] srcMac, byte[] dstMac, int dst, int dstPort, TxRingFlood.Kind kind, SplittableRandom random) {
        this.srcMac = srcMac.clone();
        this.dstMac = dstMac.clone();
        this.dst = dst;
        this.dstPort = dstPort;
        this.kind = kind;
        this.random = random;
    }

    /** Writes the next frame at {@code off} (which must have 14 + 60 bytes); returns its length. */
    int write(MemorySegment seg, long off) {
        for (int i = 0; i < 6; i++) {
            seg.set(ValueLayout.JAVA_BYTE, off + i, dstMac[i]);
            seg.set(ValueLayout.JAVA_BYTE, off + 6 + i, srcMac[i]);
        }
        seg.set(NET_SHORT, off + 12, (short) Constants.ETH_P_IP);
        int src = randomSource();
        int sport = 1024 + random.nextInt(64512);
        int len;
        if (kind == TxRingFlood.Kind.SYN) {
            len = writer.from(src, sport).to(dst, dstPort).seq(random.nextInt()).ack(0).flags(TcpFlyweight.SYN)
                    .window(64240).mss(1460).wscale(7).sackPermitted(true).timestamps(random.nextInt(), 0)
                    .write(seg, off + ETH_LEN);
        } else {
            len = writer.from(src, sport).to(dst, dstPort).seq(random.nextInt()).ack(random.nextInt())
                    .flags(TcpFlyweight.ACK).window(502).timestamps(random.nextInt(), random.nextInt())
                    .write(seg, off + ETH_LEN);
        }
        return ETH_LEN + len;
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
