package io.synproxy.server;

import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoOps;
import io.synproxy.config.Handoff;
import io.synproxy.config.ProxyConfig;
import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SecretSource;
import io.synproxy.cookie.SynCookie;
import io.synproxy.frontend.AccessAdmission;
import io.synproxy.frontend.FanoutGroup;
import io.synproxy.frontend.FrontendHandle;
import io.synproxy.frontend.FrontendWarmup;
import io.synproxy.frontend.GateSettings;
import io.synproxy.frontend.PacketRing;
import io.synproxy.frontend.RawReplies;
import io.synproxy.frontend.Replies;
import io.synproxy.frontend.RingErrors;
import io.synproxy.frontend.SegmentGate;
import io.synproxy.frontend.Segments;
import io.synproxy.frontend.TxRing;
import io.synproxy.frontend.TxRingReplies;
import io.synproxy.handoff.RepairHandoff;
import io.synproxy.handshake.Handshake;
import io.synproxy.linux.LinuxException;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.metrics.RingWaits;
import io.synproxy.packet.TcpSegment;
import io.synproxy.policy.Policy;
import io.synproxy.relay.KernelAccept;
import io.synproxy.relay.Relay;
import io.synproxy.relay.RelaySettings;
import io.synproxy.xdp.SynPath;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

/**
 * Everything one event loop runs, assembled as a unit and closed as a unit: its two capture rings (the SYNs, and the
 * rest: {@link Segments}), raw replies, cookie handshake, handoff, segment gate and relay, with the counters they
 * share. {@link #open} either returns a loop
 * registered with epoll or throws having closed what it opened.
 */
final class Loop implements AutoCloseable {
    /** TX ring frames per loop: 32 batches of replies, 1 MiB. */
    private static final int TX_FRAMES = 4096;
    /** The same when the BPF program answers the SYNs: 8 batches, 256 KiB. */
    private static final int SCREENED_TX_FRAMES = TX_FRAMES / 4;
    /** The loopback ring (clients on this host): the smallest, two blocks. */
    private static final int LOCAL_RING_BYTES = 2 * PacketRing.BLOCK_BYTES;
    /** Far longer than the kernel takes to copy one frame it claimed into the ring. */
    private static final long CLAIMED_FRAME_NANOS = TimeUnit.MILLISECONDS.toNanos(2);

    private final PacketRing ring;
    private final PacketRing restRing;
    /** Every segment to the listens that comes in on lo (clients on this host), or null where the capture has them. */
    private final PacketRing localRing;
    private final RawReplies replies;
    private final TxRingReplies txReplies;
    private final String replyPath;
    private final RepairHandoff handoff;
    private final SegmentGate gate;
    private final Counters counters;
    private final Relay relay;
    private final List<KernelAccept> accepts = new ArrayList<>();
    private final IoEventLoop loop;
    private FrontendHandle handle;
    private FrontendHandle restHandle;
    private FrontendHandle localHandle;
    /** The flood path on this loop's kinds of parts, over rings in plain memory ({@link FrontendWarmup}). */
    private Runnable frontendWarmup;
    private IoRegistration registration;
    private IoRegistration restRegistration;
    private IoRegistration localRegistration;

    private Loop(PacketRing ring, PacketRing restRing, PacketRing localRing, RawReplies replies,
                 TxRingReplies txReplies, String replyPath, RepairHandoff handoff, SegmentGate gate, Counters counters,
                 Relay relay, IoEventLoop loop) {
        this.ring = ring;
        this.restRing = restRing;
        this.localRing = localRing;
        this.replies = replies;
        this.txReplies = txReplies;
        this.replyPath = replyPath;
        this.handoff = handoff;
        this.gate = gate;
        this.counters = counters;
        this.relay = relay;
        this.loop = loop;
    }

    /**
     * Opens and wires one loop's parts and registers its ring with {@code loop}'s epoll.
     *
     * The ring captures nothing until {@link #join}.
     *
     * @param relaySettings the relay's settings, checked once for every loop
     * @param secrets the cookie secrets, shared by every loop (and a fleet) so that any loop verifies any cookie
     * @param skewMillis how close to a period boundary the next period's key is also accepted
     * @param fanout the PACKET_FANOUT group id of the SYN rings (one per listen set, so that a second instance joins it)
     * @param restFanout the group id of the rings for the other segments
     * @param policy the deny and allow lists, per-source limits and invalid-ACK RST bucket every loop shares
     * @param timings where the relay reports backend connect times (the metrics histograms)
     * @param waits where the front end reports how long packets waited in the capture ring (a metrics histogram)
     * @param answeredAt where the SYNs are answered ({@code --syn-path} resolved): when the BPF program answers every
     *                   SYN the SYN ring would see but the few it passes on, and screens the other segments (no
     *                   deny or allow list), each ring gets a sixteenth of {@code --ring-size}; at tc the program
     *                   also tags the segments of handed-off connections, and the other ring's filter drops them
     * @param errors where the rings report an error the kernel set on their sockets (the interface down or gone)
     */
    static Loop open(IoEventLoop loop, ProxyConfig config, RelaySettings relaySettings, HostFacts host,
                     SecretSource secrets, long skewMillis, int fanout, int restFanout, Policy policy,
                     BackendTimings timings, RingWaits waits, SynPath answeredAt, RingErrors errors)
            throws LinuxException {
        // The BPF program answers the SYNs and screens the other segments, unless a deny or allow list (which it
        // holds only with the kernel's handoff) makes it pass them all on: then the rings see only what needs Java.
        boolean screened = answeredAt.inKernel() && (!config.operations().listsSources()
                || config.handoff() == Handoff.KERNEL);
        // --handoff kernel captures nothing (see join()): the rings are made, at their smallest, and never bound.
        boolean kernel = config.handoff() == Handoff.KERNEL;
        int rb = kernel ? 0 : config.ringBytes();
        // Data segments reach the rings only when a final ACK may carry data (--no-zero-window).
        PacketRing ring = PacketRing.openIdle(host.ifindex(), config.listens(), config.zeroWindow(),
                screened ? screenedRingBytes(rb) : synRingBytes(rb), fanout, Segments.SYNS);
        PacketRing restRing;
        PacketRing localRing = null;
        RawReplies replies;
        try {
            restRing = PacketRing.openIdle(host.ifindex(), config.listens(), config.zeroWindow(),
                    screened ? screenedRingBytes(rb) : restRingBytes(rb), restFanout, Segments.REST,
                    answeredAt == SynPath.TC);
        } catch (LinuxException e) {
            ring.close();
            throw e;
        }
        try {
            if (host.loopbackIndex() != 0 && !kernel) {
                // A client on this host reaches a local address through lo, which the capture above does not see:
                // the guard would drop its SYN and it would hang. Local traffic is light: the smallest ring, all
                // segments in one, replies through the raw socket (no Ethernet on lo), SYNs answered here.
                localRing = PacketRing.openIdle(host.loopbackIndex(), config.listens(), config.zeroWindow(),
                        LOCAL_RING_BYTES, FanoutGroup.localId(host.ifindex(), config.listens()), Segments.LOCAL);
            }
            replies = new RawReplies(host.ipv4(), host.ipv6());
        } catch (LinuxException e) {
            ring.close();
            restRing.close();
            if (localRing != null) {
                localRing.close();
            }
            throw e;
        }
        Counters counters = new Counters();
        String noTxRing = kernel ? "" : host.noTxRing();
        TxRingReplies txReplies = null;
        if (noTxRing == null) {
            try {
                // Screened, the TX ring carries no SYN/ACK: window updates, and RSTs at --invalid-ack-rst-rate.
                txReplies = new TxRingReplies(TxRing.open(host.ifindex(), host.txMac(),
                        screened ? SCREENED_TX_FRAMES : TX_FRAMES), replies, counters);
            } catch (LinuxException e) {
                noTxRing = "no TX ring: " + e.getMessage();
            }
        }
        Replies sink = txReplies == null ? replies : txReplies;
        RepairHandoff handoff = new RepairHandoff();
        KeyRing keys = new KeyRing(secrets, config.keyRotation().toMillis(), skewMillis,
                System::currentTimeMillis);
        Handshake handshake = new Handshake(new SynCookie(keys), host.ourMss(), host.ourMss6(), host.windowScale(),
                config.zeroWindow());
        Relay relay = new Relay((EventLoop) loop, relaySettings, counters, timings);
        // A cookie verifies for up to two key periods: closed tuples are remembered at least that long.
        GateSettings settings = GateSettings.forKeyRotation(host.ipv4(), host.ipv6(), host.ports6(),
                config.maxConnections(), config.keyRotation().toMillis(), policy);
        SegmentGate gate = new SegmentGate(settings, handshake, handoff, sink, relay,
                new AccessAdmission(policy.access()), counters, SegmentGate::monotonicMillis);
        Loop opened = new Loop(ring, restRing, localRing, replies, txReplies,
                kernel ? "SYN/ACKs from the BPF program, every other reply from the kernel"
                        : TxRingReplies.describe(txReplies != null, noTxRing), handoff, gate, counters, relay, loop);
        try {
            opened.restHandle = new FrontendHandle(restRing, gate, sink, counters, waits, null, errors);
            // Final ACKs before SYNs: the SYN ring's every turn starts with the other ring's frames.
            opened.handle = new FrontendHandle(ring, gate, sink, counters, waits, opened.restHandle, errors);
            if (txReplies != null) {
                opened.frontendWarmup = () -> warmUpFrontend(config, host, settings, replies, handoff, relay, policy);
            }
            if (config.handoff() == Handoff.KERNEL) {
                for (InetSocketAddress listen : config.listens()) {
                    opened.accepts.add(KernelAccept.open(loop, relay, counters, config.maxConnections(),
                            policy.access(), policy.limits(), listen));
                }
            }
            opened.restRegistration = register(loop, opened.restHandle);
            opened.registration = register(loop, opened.handle);
            if (localRing != null) {
                opened.localHandle = new FrontendHandle(localRing, gate, sink, counters, waits, null, errors);
                opened.localRegistration = register(loop, opened.localHandle);
            }
        } catch (RuntimeException | LinuxException e) {
            opened.close();
            throw e;
        }
        return opened;
    }

    private static IoRegistration register(IoEventLoop loop, FrontendHandle handle) {
        IoRegistration registration = loop.register(handle).syncUninterruptibly().getNow();
        loop.submit(() -> registration.submit(EpollIoOps.EPOLLIN)).syncUninterruptibly();
        return registration;
    }

    /**
     * The SYN ring's share of {@code --ring-size}: three quarters, in whole blocks. A SYN flood fills it; the other
     * ring holds the few segments real clients send besides their SYN (and an ACK flood).
     */
    static int synRingBytes(int ringBytes) {
        return Math.max(2 * PacketRing.BLOCK_BYTES, ringBytes - restRingBytes(ringBytes));
    }

    /**
     * Each ring's share of {@code --ring-size} when the BPF program answers the SYNs and screens the other segments:
     * a sixteenth, in whole blocks, at least two (512 KiB, 2,048 header frames, by default). What reaches the rings
     * then is real clients' final ACKs, the SYNs and segments the program leaves to Java, and invalid ACKs at
     * {@code --invalid-ack-rst-rate}: no flood.
     */
    static int screenedRingBytes(int ringBytes) {
        int block = PacketRing.BLOCK_BYTES;
        return Math.max(2 * block, ringBytes / 16 / block * block);
    }

    /** The other ring's share of {@code --ring-size}: a quarter, in whole blocks, at least two. */
    static int restRingBytes(int ringBytes) {
        int block = PacketRing.BLOCK_BYTES;
        return Math.max(2 * block, ringBytes / 4 / block * block);
    }

    private static void warmUpFrontend(ProxyConfig config, HostFacts host, GateSettings settings, RawReplies fallback,
                                       RepairHandoff handoff, Relay relay, Policy policy) {
        long v4 = TcpSegment.mapped(0xC633_6401);
        long v6Hi = 0x2001_0db8_0000_0000L;
        long v6Lo = 1;
        for (InetSocketAddress listen : config.listens()) {
            ByteBuffer b = ByteBuffer.wrap(listen.getAddress().getAddress());
            if (b.remaining() == 4) {
                v4 = TcpSegment.mapped(b.getInt());
            } else {
                v6Hi = b.getLong();
                v6Lo = b.getLong();
            }
        }
        Handshake handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)),
                host.ourMss(), host.ourMss6(), host.windowScale(), config.zeroWindow());
        FrontendWarmup.run(settings, handshake, fallback, new AccessAdmission(policy.access()), handoff, relay, v4, v6Hi,
                v6Lo, config.listens().getFirst().getPort());
    }

    /**
     * Compiles the flood path before the port opens ({@link FrontendWarmup}); nothing is sent or received. Only with
     * a TX ring: without one, replies take the raw socket, which a warm-up would have to send on.
     */
    void warmUpFrontend() {
        // -Dsynproxy.frontendWarmup=false: without it, to measure what it saves.
        if (frontendWarmup != null && Boolean.parseBoolean(System.getProperty("synproxy.frontendWarmup", "true"))) {
            try {
                frontendWarmup.run();
            } catch (RuntimeException e) {
                // Best effort, as every warm-up: a failure here only means the first flood pays for the JIT.
            }
        }
    }

    /** Starts capturing (binds the rings and joins their fanout groups), once the process is warmed up. */
    void join() throws LinuxException {
        if (!accepts.isEmpty()) {
            // --handoff kernel: nothing to capture. A ring of a protocol is served after IP's own handler, which then
            // meets a shared packet and copies it without the request socket the tc program gave it.
            return;
        }
        restRing.join();
        ring.join();
        if (localRing != null) {
            localRing.join();
        }
    }

    /**
     * Upgrade in place: leaves the capture at once, on the loop: the ring refuses new frames (the group rolls them
     * over to the other instance's rings), a last read takes what the kernel had already queued (frames still
     * unread then count as HANDOVER_UNREAD), then the ring closes. With {@code --handoff kernel} the listening
     * sockets leave their SO_REUSEPORT group the same way ({@link KernelAccept#leave}). Live relays carry on.
     */
    void leaveCapture() {
        try {
            loop.submit(() -> {
                accepts.forEach(KernelAccept::leave);
                registration.cancel();
                restRegistration.cancel();
                ring.refuseFrames();
                restRing.refuseFrames();
                if (localRing != null) {
                    localRegistration.cancel();
                    localRing.refuseFrames();
                }
                // A frame the kernel claimed just before is still being copied in: give it time to land.
                LockSupport.parkNanos(CLAIMED_FRAME_NANOS);
                restHandle.drain();
                handle.drain();
                counters.add(Counter.HANDOVER_UNREAD, ring.pendingFrames() + restRing.pendingFrames());
                if (localRing != null) {
                    localHandle.drain();
                    counters.add(Counter.HANDOVER_UNREAD, localRing.pendingFrames());
                    localRing.close();
                }
                ring.close();
                restRing.close();
            }).get(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // The loop is stuck or gone: close() closes the ring anyway.
        }
    }

    SegmentGate gate() {
        return gate;
    }

    /** Live relays of this loop: the repair handoff's, and those of connections the kernel built. */
    int liveConnections() {
        int n = gate.liveConnections();
        for (KernelAccept k : accepts) {
            n += k.live();
        }
        return n;
    }

    /** This loop's listening sockets, in the order of the config's listens (none with the repair handoff). */
    List<KernelAccept> accepts() {
        return accepts;
    }

    /** Runs {@code task} on this loop's thread and returns its result; its IOException as thrown. */
    <T> T onLoop(Callable<T> task) throws IOException {
        try {
            return loop.submit(task).get(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        } catch (ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("the loop did not answer in 2 s");
        }
    }

    /** No new connection from now on (see {@link SegmentGate#startDraining}, {@link KernelAccept#startDraining}). */
    void startDraining() {
        gate.startDraining();
        for (KernelAccept k : accepts) {
            k.startDraining();
        }
    }

    /** Which path this loop's replies take, for the start line. */
    String replyPath() {
        return replyPath;
    }

    /** How this loop's handoffs are made, for the start line. */
    String handoffPath() {
        if (!accepts.isEmpty()) {
            return "final ACKs handed to the kernel at tc, which builds the connection";
        }
        return handoff.path();
    }

    Counters counters() {
        return counters;
    }

    Relay relay() {
        return relay;
    }

    /** Releases the loop's sockets and memory; call once its event loop has stopped. */
    @Override
    public void close() {
        ring.close();
        restRing.close();
        if (localRing != null) {
            localRing.close();
        }
        if (txReplies != null) {
            txReplies.close();
        }
        replies.close();
        handoff.close();
        accepts.forEach(KernelAccept::close);
        relay.close();
    }
}
