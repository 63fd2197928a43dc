package io.synproxy.server;

import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoOps;
import io.synproxy.config.ProxyConfig;
import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.frontend.Admission;
import io.synproxy.frontend.FrontendHandle;
import io.synproxy.frontend.GateSettings;
import io.synproxy.frontend.PacketRing;
import io.synproxy.frontend.RawReplies;
import io.synproxy.frontend.SegmentGate;
import io.synproxy.handoff.RepairHandoff;
import io.synproxy.handshake.Handshake;
import io.synproxy.linux.LinuxException;
import io.synproxy.metrics.Counters;
import io.synproxy.relay.Relay;

/**
 * Everything one event loop runs, assembled as a unit and closed as a unit: its capture ring, raw replies, cookie
 * handshake, handoff, segment gate and relay, with the counters they share. {@link #open} either returns a loop
 * registered with epoll or throws having closed what it opened.
 */
final class Loop implements AutoCloseable {
    private final PacketRing ring;
    private final RawReplies replies;
    private final RepairHandoff handoff;
    private final SegmentGate gate;
    private final Counters counters;
    private final Relay relay;

    private Loop(PacketRing ring, RawReplies replies, RepairHandoff handoff, SegmentGate gate, Counters counters,
                 Relay relay) {
        this.ring = ring;
        this.replies = replies;
        this.handoff = handoff;
        this.gate = gate;
        this.counters = counters;
        this.relay = relay;
    }

    /**
     * Opens and wires one loop's parts and registers its ring with {@code loop}'s epoll.
     *
     * @param master the cookie master key, shared by every loop so that any loop verifies any loop's cookie
     * @param fanout the PACKET_FANOUT group id, or -1 for a single loop
     */
    static Loop open(IoEventLoop loop, ProxyConfig config, HostFacts host, byte[] master, int fanout)
            throws LinuxException {
        // Data segments reach the ring only when a final ACK may carry data (--no-zero-window).
        PacketRing ring = PacketRing.open(host.ifindex(), config.listens(), config.zeroWindow(), config.ringBytes(),
                fanout);
        RawReplies replies;
        try {
            replies = new RawReplies(host.ipv4(), host.ipv6());
        } catch (LinuxException e) {
            ring.close();
            throw e;
        }
        RepairHandoff handoff = new RepairHandoff();
        Counters counters = new Counters();
        KeyRing keys = new KeyRing(master, config.keyRotation().toMillis(), System::currentTimeMillis);
        Handshake handshake = new Handshake(new SynCookie(keys), host.ourMss(), host.ourMss6(), host.windowScale(),
                config.zeroWindow());
        Relay relay = new Relay((EventLoop) loop, config.backend(), counters,
                (int) config.backendConnectTimeout().toMillis());
        relay.idleTimeout(config.idleTimeout().toMillis());
        relay.proxyProtocol(config.proxyProtocol()).keepalive(config.keepalive());
        // A cookie verifies for up to two key periods: closed tuples are remembered at least that long.
        GateSettings settings = GateSettings.forKeyRotation(host.ipv4(), host.ipv6(), host.ports6(),
                config.maxConnections(), config.keyRotation().toMillis());
        SegmentGate gate = new SegmentGate(settings, handshake, handoff, replies, relay, Admission.ALL, counters,
                SegmentGate::monotonicMillis);
        Loop opened = new Loop(ring, replies, handoff, gate, counters, relay);
        try {
            FrontendHandle handle = new FrontendHandle(ring, gate, counters);
            IoRegistration registration = loop.register(handle).syncUninterruptibly().getNow();
            loop.submit(() -> registration.submit(EpollIoOps.EPOLLIN)).syncUninterruptibly();
        } catch (RuntimeException e) {
            opened.close();
            throw e;
        }
        return opened;
    }

    SegmentGate gate() {
        return gate;
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
        replies.close();
        handoff.close();
    }
}
