package io.synproxy.server;

import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.EventExecutor;
import io.synproxy.config.ProxyConfig;
import io.synproxy.guard.NftGuard;
import io.synproxy.handoff.RepairHandoff;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Platform;
import io.synproxy.metrics.Counters;
import io.synproxy.metrics.Stats;

import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One running proxy, the composition root: the host facts found once ({@link HostFacts}), one {@link Loop} per event
 * loop (ring, replies, handshake, gate, handoff and relay, wired through their constructors), and the nftables guard.
 * {@link #start} either returns a running proxy or throws {@link StartupException} having released everything it
 * took; {@link #shutdown} drains and stops it.
 */
public final class ProxyServer implements AutoCloseable {
    private final ProxyConfig config;
    private final HostFacts host;
    private final MultiThreadIoEventLoopGroup group;
    private final List<Loop> loops;
    private final List<NftGuard> guards;
    private final Stats stats;
    private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "synproxy-stats");
        t.setDaemon(true);
        return t;
    });
    private volatile boolean closed;

    private ProxyServer(ProxyConfig config, HostFacts host, MultiThreadIoEventLoopGroup group, List<Loop> loops,
                        List<NftGuard> guards) {
        this.config = config;
        this.host = host;
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
                live += l.gate().liveConnections();
            }
            return live;
        });
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
        HostFacts host = HostFacts.discover(config);
        byte[] master = new byte[32];
        new SecureRandom().nextBytes(master);
        int fanout = config.threads() > 1 ? (int) (ProcessHandle.current().pid() & 0xffff) : -1;

        MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(config.threads(), EpollIoHandler.newFactory());
        List<Loop> loops = new ArrayList<>();
        boolean started = false;
        try {
            for (EventExecutor executor : group) {
                loops.add(Loop.open((IoEventLoop) executor, config, host, master, fanout));
            }
            warmUp(host, group);
            for (NftGuard guard : guards) {
                guard.install();
            }
            started = true;
            return new ProxyServer(config, host, group, loops, guards);
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

    /** The cold paths once, before the guard opens the port (see {@link Warmup}). */
    private static void warmUp(HostFacts host, MultiThreadIoEventLoopGroup group) {
        Warmup.handshake(host.ourMss(), host.ourMss6(), host.windowScale(), host.ipv4(), host.ipv6());
        // Its own scratch memory: the loops' handoffs may already be busy on their threads.
        try (RepairHandoff scratch = new RepairHandoff()) {
            Warmup.repair(scratch, host.ourMss(), host.ourMss6(), host.windowScale(), InetAddress.getLoopbackAddress());
            if (host.ipv6()) {
                Warmup.repair(scratch, host.ourMss(), host.ourMss6(), host.windowScale(), InetAddress.getByName("::1"));
            }
        } catch (UnknownHostException e) {
            // A literal never needs a lookup; the IPv6 handoff is then linked by its first client.
        }
        for (EventExecutor executor : group) {
            Warmup.relay((EventLoop) executor);
        }
    }

    /** The one line that says what is protected, through which interface, to which backend. */
    public String describe() {
        return "synproxy: protecting " + config.listenText() + " on " + host.interfaceDescription()
                + ", backend " + config.backend().getHostString() + ":" + config.backend().getPort()
                + ", " + loops.size() + " thread(s), guard table"
                + (guards.size() > 1 ? "s" : "") + " inet " + String.join(", inet ", guards.stream().map(NftGuard::table).toList());
    }

    public Stats stats() {
        return stats;
    }

    /** Prints the stats line to {@code out} every {@code statsInterval} of the config (never when it is 0). */
    public void printStats(PrintWriter out) {
        if (config.statsInterval().isZero()) {
            return;
        }
        long ms = config.statsInterval().toMillis();
        ticker.scheduleAtFixedRate(() -> {
            out.println(stats.line());
            out.flush();
        }, ms, ms, TimeUnit.MILLISECONDS);
    }

    /**
     * The whole stop sequence, saying what it does on {@code out}: drains for the config's drain timeout (none when
     * 0, see {@link #drain}), stops the stats, closes the proxy and the guard, prints the final stats line.
     */
    public void shutdown(PrintWriter out) {
        if (!config.drainTimeout().isZero()) {
            out.println("synproxy: draining: no new connections, " + stats.live()
                    + " live get up to " + config.drainTimeout().toMillis() + " ms");
            out.flush();
            int cut = drain(config.drainTimeout());
            out.println("synproxy: drained, " + cut + " still open at the deadline closed");
            out.flush();
        }
        ticker.shutdownNow();
        close();
        out.println(stats.line());
        out.println("synproxy: stopped, guard removed");
        out.flush();
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
            l.gate().startDraining();
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
            } catch (ExecutionException | TimeoutException e) {
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
        ticker.shutdownNow();
        shutdown(group, loops, guards);
    }

    private static void shutdown(MultiThreadIoEventLoopGroup group, List<Loop> loops, List<NftGuard> guards) {
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        for (Loop l : loops) {
            l.close();
        }
        for (NftGuard guard : guards) {
            try {
                guard.remove();
            } catch (NftGuard.GuardException e) {
                System.err.println("synproxy: " + e.getMessage());
            }
        }
    }
}
