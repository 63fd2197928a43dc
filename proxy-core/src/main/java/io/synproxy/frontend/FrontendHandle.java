package io.synproxy.frontend;

import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.unix.FileDescriptor;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One event loop's capture ring as a Netty epoll handle: when epoll says the ring is readable, every frame the kernel
 * has handed over goes to the loop's {@link SegmentGate}, which decides what each packet is. Everything a connection
 * touches (ring, raw socket, repaired socket, backend socket) lives on this one loop thread.
 */
public final class FrontendHandle implements EpollIoHandle {
    private final PacketRing ring;
    private final SegmentGate gate;
    private final Counters counters;
    private final FileDescriptor fd;

    public FrontendHandle(PacketRing ring, SegmentGate gate, Counters counters) {
        this.ring = ring;
        this.gate = gate;
        this.counters = counters;
        this.fd = new FileDescriptor(ring.fd());
    }

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    @Override
    public void handle(IoRegistration registration, IoEvent ioEvent) {
        drain();
    }

    /** Processes every frame the kernel has handed over, then tells the gate the drain is over. */
    public void drain() {
        MemorySegment mem = ring.memory();
        long nowMillis = SegmentGate.monotonicMillis();
        long frame;
        while ((frame = ring.nextFrame()) >= 0) {
            int status = ring.status(frame);
            if ((status & PacketRing.TP_STATUS_LOSING) != 0) {
                counters.add(Counter.RING_DROPS, ring.takeDrops());
            }
            // Another host's MAC, broadcast, multicast: the kernel's TCP never sees them (the filter drops them too).
            if (!ring.forThisHost(frame)) {
                counters.increment(Counter.NOT_FOR_HOST);
                ring.releaseFrame(frame);
                continue;
            }
            int snaplen = mem.get(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_SNAPLEN);
            int net = Short.toUnsignedInt(mem.get(ValueLayout.JAVA_SHORT, frame + PacketRing.FRAME_NET));
            gate.onPacket(mem, frame + net, snaplen, status, ring.fromLoopback(frame), nowMillis);
            ring.releaseFrame(frame);
        }
        gate.endOfDrain();
    }

    @Override
    public void close() {
        // The ring and the replies are closed by their owner after the loop has stopped.
    }
}
