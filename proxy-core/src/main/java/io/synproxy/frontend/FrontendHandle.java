package io.synproxy.frontend;

import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoEvent;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import io.synproxy.linux.Native;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.metrics.RingWaits;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One event loop's capture ring as a Netty epoll handle: when epoll says the ring is readable, every frame the kernel
 * has handed over goes to the loop's {@link SegmentGate}, which decides what each packet is. Everything a connection
 * touches (ring, raw socket, repaired socket, backend socket) lives on this one loop thread.
 */
public final class FrontendHandle implements EpollIoHandle {
    /**
     * Frames handled per loop turn: under a flood the ring never empties, and the relays and handoffs on this
     * loop (whose sockets are ready in the same epoll turn) must not wait for it to. The ring's descriptor is
     * level-triggered, so epoll reports it again at once. Every step of a real client's connection after its
     * SYN/ACK (its final ACK, the backend's connect, the request, the response) waits for the turn in progress,
     * so the turn is short: 32 SYNs take about 75 us. At trafgen's maximum rate, alternating with 256 per turn:
     * first byte p50 2.3 to 2.7 ms against 5.0, p99 11.6 to 15.1 ms (3.0x to 4.3x the kernel's) against 19.4
     * and 23.2 (4.9x and 6.6x), the same CPU per SYN/ACK. 16 per turn was worse: the turns' own cost made the
     * SYNs queue (connect p99 23 to 26 ms). {@code -Dsynproxy.framesPerTurn} sets it, within 1 to 1024: the
     * start-up warm-up runs whole turns of at least this many SYNs, and more than 61,440 would leave it none.
     */
    static final int FRAMES_PER_TURN = Math.clamp(Integer.getInteger("synproxy.framesPerTurn", 32), 1, 1024);
    /**
     * How long a drain that found frames keeps watching the ring once it is empty, before the loop goes back to
     * epoll. Under a flood the next frame comes within microseconds: a loop asleep in epoll_wait costs the kernel a
     * wake-up per frame (in the sender's softirq) and the loop an epoll turn and a send() per frame, several
     * microseconds each; a loop that is awake costs neither. 0 turns it off.
     */
    static final long SPIN_NANOS = Long.getLong("synproxy.spinMicros", 50) * 1000;
    /**
     * The wait is only worth it when frames come faster than the loop wakes up, which a drain shows by finding
     * several at once; at a few thousand frames per second a drain finds one, and waiting would cost more CPU
     * than the wake-up it saves.
     */
    static final int SPIN_AFTER_FRAMES = 4;
    /**
     * Frames read ahead at a time ({@link SegmentGate#prefetch}): every {@code PREFETCH_BATCH} frames, the next batch
     * after the current one is read ahead, so each frame's lookup lines are asked for a batch (a few microseconds)
     * before its turn, and the batch's misses overlap. A power of two.
     */
    static final int PREFETCH_BATCH = 8;
    /** No waiting for frames once a turn has lasted this long: the relays on this loop are served in between. */
    static final long TURN_NANOS = 500_000;

    private final PacketRing ring;
    private final SegmentGate gate;
    private final Replies replies;
    private final Counters counters;
    private final RingWaits waits;
    private final FileDescriptor fd;
    /** Drained before this handle's ring each time epoll reports it, or null. */
    private final FrontendHandle first;
    private final RingErrors errors;

    /** @param replies the gate's replies: told which capture frame each reply answers, flushed before a wait */
    public FrontendHandle(PacketRing ring, SegmentGate gate, Replies replies, Counters counters) {
        this(ring, gate, replies, counters, RingWaits.NONE);
    }

    /** @param waits told, once per drain that finds frames, how long its first frame had waited in the ring */
    public FrontendHandle(PacketRing ring, SegmentGate gate, Replies replies, Counters counters, RingWaits waits) {
        this(ring, gate, replies, counters, waits, null, RingErrors.NONE);
    }

    /**
     * @param first another ring of the same loop whose frames come before this one's whenever epoll reports this
     *              one: the ring of final ACKs before the SYN ring. Epoll reports ready descriptors in the order they
     *              became ready, not in an order of ours, so the SYN ring's turn starts with the other ring's
     *              frames instead (a look at one frame status when there are none).
     * @param errors told of an error the kernel sets on the ring's socket (its interface went down or away)
     */
    public FrontendHandle(PacketRing ring, SegmentGate gate, Replies replies, Counters counters, RingWaits waits,
                          FrontendHandle first, RingErrors errors) {
        this.first = first;
        this.errors = errors;
        this.ring = ring;
        this.gate = gate;
        this.replies = replies;
        this.counters = counters;
        this.waits = waits;
        // A ring in plain memory (the start-up warm-up) has no descriptor and is never registered.
        this.fd = ring.fd() >= 0 ? new FileDescriptor(ring.fd()) : null;
    }

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    @Override
    public void handle(IoRegistration registration, IoEvent ioEvent) {
        if (ioEvent instanceof EpollIoEvent e && e.ops().contains(EpollIoOps.EPOLLERR)) {
            // The descriptor is level-triggered: an error left on the socket (ENETDOWN when the interface goes down
            // or away) would wake the loop again at once, for ever. Reading SO_ERROR clears it.
            int errno = Native.soError(fd.intValue());
            if (errno != 0) {
                errors.ringError(errno);
            }
        }
        if (first != null && first.ring.nextFrame() >= 0) {
            first.drain();
        }
        drain();
    }

    /**
     * Processes the frames the kernel has handed over, at most {@link #FRAMES_PER_TURN}, then tells the gate the
     * drain is over. A drain that found several frames waits up to {@link #SPIN_NANOS} for the next one first.
     */
    public void drain() {
        MemorySegment mem = ring.memory();
        long started = System.nanoTime();
        long nowMillis = SegmentGate.monotonicMillis();
        int budget = FRAMES_PER_TURN;
        long spinUntil = 0;
        while (budget > 0) {
            long frame = ring.nextFrame();
            if (frame < 0) {
                if (FRAMES_PER_TURN - budget < SPIN_AFTER_FRAMES) {
                    break;
                }
                long now = System.nanoTime();
                if (spinUntil == 0) {
                    // What is answered leaves now, not after the wait.
                    replies.flush();
                    spinUntil = now + SPIN_NANOS;
                }
                if (now >= spinUntil || now - started >= TURN_NANOS) {
                    break;
                }
                Thread.onSpinWait();
                continue;
            }
            spinUntil = 0;
            int handled = FRAMES_PER_TURN - budget;
            if (handled == 0 && waits != RingWaits.NONE) {
                // One clock read per drain, not per frame: the first frame is the oldest the drain sees.
                long age = ring.ageMillis(frame, System.currentTimeMillis());
                if (age >= 0) {
                    waits.ringWait(age);
                }
            }
            if ((handled & (PREFETCH_BATCH - 1)) == 0 && gate.prefetches()) {
                prefetch(mem, handled == 0 ? 1 : PREFETCH_BATCH);
            }
            budget--;
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
            if (mem.get(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_LEN) > snaplen) {
                // Larger than a frame: with --no-zero-window, data segments GRO merged (an upload). Not malformed,
                // and nothing to act on without its whole payload: a live connection's is the kernel's, and one sent
                // before its socket existed cannot be copied to it (the client resends it).
                counters.increment(Counter.CAPTURE_SHORT);
                ring.releaseFrame(frame);
                continue;
            }
            int net = Short.toUnsignedInt(mem.get(ValueLayout.JAVA_SHORT, frame + PacketRing.FRAME_NET));
            replies.replyTo(mem, frame);
            gate.onPacket(mem, frame + net, snaplen, status, ring.fromLoopback(frame), nowMillis);
            ring.releaseFrame(frame);
        }
        gate.endOfDrain();
    }

    /** Frames {@code from} to {@code 2 * PREFETCH_BATCH - 1} places ahead, while they are the user's already. */
    private void prefetch(MemorySegment mem, int from) {
        for (int ahead = from; ahead < 2 * PREFETCH_BATCH; ahead++) {
            long frame = ring.frameAhead(ahead);
            if (frame < 0) {
                return;
            }
            int net = Short.toUnsignedInt(mem.get(ValueLayout.JAVA_SHORT, frame + PacketRing.FRAME_NET));
            gate.prefetch(mem, frame + net, mem.get(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_SNAPLEN));
        }
    }

    @Override
    public void close() {
        // The ring and the replies are closed by their owner after the loop has stopped.
    }
}
