package io.synproxy.packet;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parse and write paths allocate nothing per packet once warmed up (measured with the thread allocation counter). */
class NoAllocationTest {

    private static final int WARM_UP = 200_000;
    private static final int MEASURED = 100_000;
    private static final int ROUNDS = 5;

    private final TcpSegment parser = new TcpSegment();
    private final TcpSegmentWriter writer = new TcpSegmentWriter();

    @Test
    void shouldNotAllocateWhenParsingAndWritingNativeFrames() {
        final ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        Assumptions.assumeTrue(bean instanceof com.sun.management.ThreadMXBean);
        final com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) bean;
        Assumptions.assumeTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled());

        final byte[] syn = Frames.linuxSyn();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment rx = arena.allocate(syn.length);
            MemorySegment.copy(Frames.seg(syn), 0, rx, 0, syn.length);
            final MemorySegment tx = arena.allocate(TcpSegmentWriter.MAX_LENGTH_IPV4);

            long sink = run(WARM_UP, rx, syn.length, tx);
            long best = Long.MAX_VALUE;
            for (int round = 0; round < ROUNDS; round++) {
                final long before = threads.getCurrentThreadAllocatedBytes();
                sink += run(MEASURED, rx, syn.length, tx);
                final long allocated = threads.getCurrentThreadAllocatedBytes() - before;
                // One allocation per packet would be at least 16 bytes per packet.
                assertTrue(allocated < MEASURED, allocated + " bytes over " + MEASURED + " packets (sink " + sink + ")");
                best = Math.min(best, allocated);
            }
            // A JIT transition may allocate a few bytes once; a steady state allocates nothing.
            assertEquals(0, best, "bytes allocated in the best of " + ROUNDS + " rounds of " + MEASURED + " packets");
        }
    }

    private long run(int rounds, MemorySegment rx, int length, MemorySegment tx) {
        long sink = 0;
        for (int i = 0; i < rounds; i++) {
            final Reject r = Frames.parseFrame(parser, rx, 0, length, true);
            sink += r.ordinal() + parser.options().tsVal();
            sink += writer.from(parser.dstHi(), parser.dstLo(), parser.dstPort())
                    .to(parser.srcHi(), parser.srcLo(), parser.srcPort()).seq(i)
                    .ack(parser.seq() + 1).flags(TcpFlyweight.SYN | TcpFlyweight.ACK).window(65535)
                    .mss(parser.options().mss()).wscale(parser.options().wscale())
                    .sackPermitted(parser.options().sackPermitted())
                    .timestamps(parser.options().hasTimestamps(), i, parser.options().tsVal()).write(tx, 0);
        }
        return sink;
    }
}
