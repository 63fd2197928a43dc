package io.synproxy.server;

import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.util.concurrent.EventExecutor;
import io.synproxy.config.ConfigException;
import io.synproxy.config.Operations;
import io.synproxy.config.ProxyConfig;
import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.frontend.FrontendHandle;
import io.synproxy.frontend.PacketRing;
import io.synproxy.frontend.RawSender;
import io.synproxy.guard.NftGuard;
import io.synproxy.handoff.RepairHandoff;
import io.synproxy.handshake.Handshake;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.Platform;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counters;
import io.synproxy.metrics.PrometheusEndpoint;
import io.synproxy.metrics.PrometheusMetrics;
import io.synproxy.metrics.Stats;
import io.synproxy.policy.Policy;
import io.synproxy.policy.SourceAccess;
import io.synproxy.policy.SourceLimits;
import io.synproxy.policy.TokenBucket;
import io.synproxy.relay.Relay;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One running proxy: a capture ring, raw sender, handshake and handoff per event loop, the relay
 * on the same loops, and the nftables guard. {@link #start} either returns a running proxy or
 * throws {@link StartupException} having released everything it took.
 */
public final class ProxyServer implements AutoCloseable {
    private final ProxyConfig config;
    private final String interfaceDescription;
    private final MultiThreadIoEventLoopGroup group;
    private final List<Loop> loops;
    private final List<NftGuard> guards;
    private final Stats stats;
    private final Policy policy;
    private final PrometheusMetrics metrics;
    private PrometheusEndpoint endpoint;
    private volatile boolean closed;

    private record Loop(PacketRing ring, RawSender sender, RawSender sender6, RepairHandoff handoff,
                        FrontendHandle handle, Counters counters, Relay relay) {
    }

    private ProxyServer(ProxyConfig config, String interfaceDescription, MultiThreadIoEventLoopGroup group,
                        List<Loop> loops, List<NftGuard> guards, Policy policy, PrometheusMetrics metrics) {
        this.config = config;
        this.policy = policy;
        this.metrics = metrics;
        this.interfaceDescription = interfaceDescription;
        this.group = group;
        this.loops = loops;
        this.guards = guards;
        List<Counters> counters = new ArrayList<>();
        for (Loop l : loops) {
            counters.add(l.counters());
        }
        this.stats = new Stats(counters, () -> {
            long live = 0;
            for (Loop l : loops) {
                live += l.handle().liveConnections();
            }
            return live;
        });
        if (metrics != null) {
            metrics.stats(stats);
        }
    }

    public static ProxyServer start(ProxyConfig config) throws StartupException {
        try {
            Platform.ensureAvailable();
        } catch (Platform.UnavailableException e) {
            throw new StartupException(e.getMessage());
        }
        if (!Epoll.isAvailable()) {
            throw new StartupException("Netty's native epoll transport is unavailable: "
                    + Epoll.unavailabilityCause().getMessage());
        }
        List<NftGuard> guards = new ArrayList<>();
        try {
            for (InetSocketAddress l : config.listens()) {
                guards.add(NftGuard.forListen(l.getAddress(), l.getPort()));
            }
        } catch (NftGuard.GuardException e) {
            throw new StartupException(e.getMessage());
        }
        int ifindex;
        String ifaceText;
        int mtu;
        try {
            NetworkInterface nif;
            if (config.interfaceName() != null) {
                nif = NetworkInterface.getByName(config.interfaceName());
                if (nif == null || Native.ifNameToIndex(config.interfaceName()) == 0) {
                    throw new StartupException("interface " + config.interfaceName() + " does not exist");
                }
            } else {
                nif = listenInterface(config);
            }
            ifindex = nif == null ? 0 : nif.getIndex();
            ifaceText = nif == null ? "all interfaces" : "interface " + nif.getName();
            mtu = nif == null ? smallestMtu() : nif.getMTU();
        } catch (SocketException e) {
            throw new StartupException("cannot read the network interfaces: " + e.getMessage());
        }
        ensurePortFree(config);

        int ourMss = Math.max(536, Math.min(mtu, 65535) - 40);
        int ourMss6 = Math.max(Handshake.IPV6_DEFAULT_MSS, Math.min(mtu, 65535) - 60);
        boolean v4 = config.listens().stream().anyMatch(l -> l.getAddress() instanceof Inet4Address);
        boolean v6 = config.listens().stream().anyMatch(l -> !(l.getAddress() instanceof Inet4Address));
        int[] ports6 = config.listens().stream().filter(l -> !(l.getAddress() instanceof Inet4Address))
                .mapToInt(InetSocketAddress::getPort).distinct().toArray();
        int ourWscale = kernelReceiveWindowScale();
        byte[] master = new byte[32];
        new SecureRandom().nextBytes(master);
        int fanout = config.threads() > 1 ? (int) (ProcessHandle.current().pid() & 0xffff) : -1;
        Policy policy = policy(config);
        PrometheusMetrics metrics = config.operations().metrics() != null ? new PrometheusMetrics() : null;

        MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(config.threads(), EpollIoHandler.newFactory());
        List<Loop> loops = new ArrayList<>();
        boolean started = false;
        try {
            for (EventExecutor executor : group) {
                IoEventLoop loop = (IoEventLoop) executor;
                // Data segments reach the ring only when a final ACK may carry data (--no-zero-window).
                PacketRing ring = PacketRing.open(ifindex, config.listens(), config.zeroWindow(),
                        config.ringBytes(), fanout);
                RawSender sender = null;
                RawSender sender6 = null;
                RepairHandoff handoff;
                try {
                    sender = v4 ? new RawSender() : null;
                    sender6 = v6 ? RawSender.ipv6() : null;
                } catch (LinuxException e) {
                    ring.close();
                    if (sender != null) {
                        sender.close();
                    }
                    throw e;
                }
                handoff = new RepairHandoff();
                Counters counters = new Counters();
                KeyRing keys = new KeyRing(master, config.keyRotation().toMillis(), System::currentTimeMillis);
                Handshake handshake = new Handshake(new SynCookie(keys), ourMss, ourMss6, ourWscale,
                        config.zeroWindow());
                Relay relay = new Relay((EventLoop) loop, config.backend(), counters,
                        (int) config.backendConnectTimeout().toMillis());
                relay.idleTimeout(config.idleTimeout().toMillis());
                relay.proxyProtocol(config.proxyProtocol()).keepalive(config.keepalive());
                relay.timings(metrics != null ? metrics : BackendTimings.NONE);
                FrontendHandle handle = new FrontendHandle(ring, sender, sender6, ports6, handshake, handoff, counters,
                        relay, config.maxConnections());
                // A cookie verifies for up to two key periods: remember closed tuples at least that long.
                handle.rememberClosedTuplesFor(2 * config.keyRotation().toMillis() + 1000);
                handle.policy(policy);
                loops.add(new Loop(ring, sender, sender6, handoff, handle, counters, relay));
                IoRegistration registration = loop.register(handle).syncUninterruptibly().getNow();
                loop.submit(() -> registration.submit(EpollIoOps.EPOLLIN)).syncUninterruptibly();
            }
            Warmup.handshake(ourMss, ourWscale);
            if (v6) {
                Warmup.handshake6(ourMss, ourMss6, ourWscale);
            }
            // Its own scratch memory: the loops' handoffs may already be busy on their threads.
            try (RepairHandoff scratch = new RepairHandoff()) {
                Warmup.repair(scratch, ourMss, ourWscale);
                if (v6) {
                    Warmup.repair6(scratch, ourMss, ourMss6, ourWscale);
                }
            }
            for (EventExecutor executor : group) {
                Warmup.relay((EventLoop) executor);
            }
            for (NftGuard guard : guards) {
                guard.install();
            }
            ProxyServer server = new ProxyServer(config, ifaceText, group, loops, guards, policy, metrics);
            server.serveMetrics();
            started = true;
            return server;
        } catch (LinuxException e) {
            throw new StartupException("cannot open the capture and raw sockets: " + e.getMessage());
        } catch (NftGuard.GuardException e) {
            throw new StartupException(e.getMessage());
        } finally {
            if (!started) {
                shutdown(group, loops, guards);
            }
        }
    }

    /** The deny and allow lists, per-source limits and invalid-ACK RST bucket every loop shares. */
    private static Policy policy(ProxyConfig config) throws StartupException {
        Operations ops = config.operations();
        SourceAccess access;
        try {
            access = SourceAccess.load(ops.deny(), ops.allow(), ops.denyFiles(), ops.allowFiles());
        } catch (ConfigException e) {
            throw new StartupException(e.getMessage());
        }
        // A live connection belongs to one source, so twice the connection limit of all loops leaves room for
        // sources that hold no connection but have not refilled their bucket yet.
        SourceLimits limits = ops.limitsSources() ? new SourceLimits(ops.maxConnectionsPerSource(),
                ops.maxRatePerSource(), ops.sourcePrefix4(), ops.sourcePrefix6(),
                (int) Math.min(1 << 24, 2L * config.maxConnections() * config.threads())) : null;
        long rate = ops.invalidAckRstRate();
        return new Policy(access, limits, new TokenBucket(rate, Math.max(1, rate / 10), System.nanoTime()));
    }

    /** Starts {@code /metrics} when {@code --metrics} is given; a bound port is a startup failure. */
    private void serveMetrics() throws StartupException {
        if (metrics == null) {
            return;
        }
        InetSocketAddress at = config.operations().metrics();
        try {
            endpoint = PrometheusEndpoint.start(at, metrics);
        } catch (IOException e) {
            // start() releases the loops and guards.
            throw new StartupException("cannot serve metrics on " + ProxyConfig.text(at) + ": " + e.getMessage());
        }
    }

    /**
     * Re-reads the deny and allow list files (SIGHUP); live connections are untouched.
     *
     * @return what is now in force
     * @throws ConfigException naming the file and line of a bad line; the old lists stay in force
     */
    public String reloadAccessLists() throws ConfigException {
        return policy.access().reload();
    }

    /** What the deny and allow lists and per-source limits are, in one line. */
    public String describePolicy() {
        SourceLimits limits = policy.limits();
        return "synproxy: " + policy.access().describe() + (limits == null ? ", no per-source limit"
                : ", per-source table of " + limits.capacity() + " sources (" + (limits.bytes() >> 10) + " KiB)");
    }

    /** The one line that says what is protected, through which interface, to which backend. */
    public String describe() {
        return "synproxy: protecting " + config.listenText() + " on " + interfaceDescription
                + ", backend " + config.backend().getHostString() + ":" + config.backend().getPort()
                + ", " + loops.size() + " thread(s), guard table"
                + (guards.size() > 1 ? "s" : "") + " inet " + String.join(", inet ", guards.stream().map(NftGuard::table).toList());
    }

    public Stats stats() {
        return stats;
    }

    /**
     * Drains before {@link #close}: no new connection starts (SYNs go unanswered and the guard stays,
     * so they never reach the kernel, which would answer them with RST; handshakes already under way
     * get a RST), live relays get up to {@code grace} to finish, then the rest are closed.
     *
     * @return the relays still open at the end of the grace period, which were closed
     */
    public int drain(Duration grace) {
        for (Loop l : loops) {
            l.handle().startDraining();
        }
        long deadline = System.nanoTime() + grace.toNanos();
        while (stats.live() > 0 && System.nanoTime() < deadline && sleepMillis(20)) {
            // waiting for live relays to finish
        }
        int cut = 0;
        for (Loop l : loops) {
            try {
                cut += l.relay().closeAll().get(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                // The loop is gone or stuck: close() shuts it down anyway.
            }
        }
        // Give the closes a moment to reach the clients before the loops stop.
        long flush = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (stats.live() > 0 && System.nanoTime() < flush && sleepMillis(20)) {
            // waiting for the closes
        }
        return cut;
    }

    /** Sleeps; false when interrupted (the flag is kept), so that a wait loop ends instead of spinning. */
    private static boolean sleepMillis(long ms) {
        try {
            Thread.sleep(ms);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (endpoint != null) {
            endpoint.close();
        }
        shutdown(group, loops, guards);
    }

    private static void shutdown(MultiThreadIoEventLoopGroup group, List<Loop> loops, List<NftGuard> guards) {
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        for (Loop l : loops) {
            l.ring().close();
            if (l.sender() != null) {
                l.sender().close();
            }
            if (l.sender6() != null) {
                l.sender6().close();
            }
            l.handoff().close();
        }
        for (NftGuard guard : guards) {
            try {
                guard.remove();
            } catch (NftGuard.GuardException e) {
                System.err.println("synproxy: " + e.getMessage());
            }
        }
    }

    /**
     * The interface holding every listen address, or null (every interface) when a listen is a wildcard or the
     * addresses live on different interfaces.
     */
    private static NetworkInterface listenInterface(ProxyConfig config) throws SocketException, StartupException {
        NetworkInterface common = null;
        boolean any = false;
        for (InetSocketAddress l : config.listens()) {
            if (l.getAddress().isAnyLocalAddress()) {
                any = true;
                continue;
            }
            NetworkInterface nif = NetworkInterface.getByInetAddress(l.getAddress());
            if (nif == null) {
                throw new StartupException(l.getAddress().getHostAddress()
                        + " is not an address of this host: give --listen an address assigned to a local interface");
            }
            if (common != null && !common.equals(nif)) {
                any = true;
            }
            common = nif;
        }
        return any ? null : common;
    }

    /** A listener already on the port would answer SYNs itself: refuse to start. */
    private static void ensurePortFree(ProxyConfig config) throws StartupException {
        for (InetSocketAddress l : config.listens()) {
            try (Socket probe = new Socket()) {
                // SO_REUSEADDR as any server uses: a listener still fails the bind, our own TIME_WAIT sockets from a
                // previous run (the handed-off sockets are bound to this port) do not.
                probe.setReuseAddress(true);
                probe.bind(l);
            } catch (IOException e) {
                throw new StartupException("port " + ProxyConfig.text(l) + " is already in use by another socket: "
                        + "stop what listens there (the kernel would answer SYNs itself) or choose another port");
            }
        }
    }

    private static int smallestMtu() throws SocketException {
        int mtu = Integer.MAX_VALUE;
        for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (nif.isUp() && !nif.isLoopback() && nif.getMTU() > 0) {
                mtu = Math.min(mtu, nif.getMTU());
            }
        }
        return mtu == Integer.MAX_VALUE ? 1500 : mtu;
    }

    /** The receive window shift Linux would announce itself: ilog2(max(tcp_rmem[2], rmem_max)) - 15. */
    static int kernelReceiveWindowScale() {
        long space = 6L << 20;
        try {
            // Not Files.readString: on JDK 25 it returned only the first byte ("4") of these procfs files.
            String[] rmem = Files.readAllLines(Path.of("/proc/sys/net/ipv4/tcp_rmem")).getFirst().trim().split("\\s+");
            space = Long.parseLong(rmem[2]);
            space = Math.max(space,
                    Long.parseLong(Files.readAllLines(Path.of("/proc/sys/net/core/rmem_max")).getFirst().trim()));
        } catch (IOException | RuntimeException e) {
            // Keep the default of a stock kernel.
        }
        int log = 63 - Long.numberOfLeadingZeros(Math.max(space, 1));
        return Math.max(0, Math.min(14, log - 15));
    }
}
