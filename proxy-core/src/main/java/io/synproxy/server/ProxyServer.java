package io.synproxy.server;

import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.EventExecutor;
import io.synproxy.config.ConfigException;
import io.synproxy.config.Handoff;
import io.synproxy.config.ProxyConfig;
import io.synproxy.cookie.CookieSecrets;
import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SecretSource;
import io.synproxy.frontend.FanoutGroup;
import io.synproxy.frontend.SegmentGate;
import io.synproxy.guard.GuardShare;
import io.synproxy.guard.NftGuard;
import io.synproxy.handoff.RepairHandoff;
import io.synproxy.linux.Constants;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Platform;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.metrics.PrometheusEndpoint;
import io.synproxy.metrics.PrometheusMetrics;
import io.synproxy.metrics.RingWaits;
import io.synproxy.metrics.Stats;
import io.synproxy.policy.Policy;
import io.synproxy.policy.SourceAccess;
import io.synproxy.policy.SourceLimits;
import io.synproxy.relay.RelaySettings;
import io.synproxy.xdp.SynPath;
import io.synproxy.xdp.XdpException;
import io.synproxy.xdp.XdpFastPath;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.FutureTask;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * One running proxy, the composition root: the host facts found once ({@link HostFacts}), one {@link Loop} per event
 * loop (ring, replies, handshake, gate, handoff and relay, wired through their constructors), and the nftables guard.
 * {@link #start} either returns a running proxy or throws {@link StartupException} having released everything it
 * took; {@link #shutdown} drains and stops it.
 */
public final class ProxyServer implements AutoCloseable {
    /** How far ahead another instance's clock may run and its cookies still verify (capped at a quarter period). */
    private static final long CLOCK_SKEW_MILLIS = 5_000;

    private final ProxyConfig config;
    private final HostFacts host;
    private final MultiThreadIoEventLoopGroup group;
    private final List<Loop> loops;
    private final List<NftGuard> guards;
    private final GuardShare share;
    private final Stats stats;
    private final Policy policy;
    private final PrometheusMetrics metrics;
    private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "synproxy-stats");
        t.setDaemon(true);
        return t;
    });
    /** The BPF program answering SYNs in the kernel ({@code --syn-path} tc, xdp, xdp-generic), or null. */
    private final XdpFastPath xdp;
    private final KernelSyns kernel;
    /** What --handoff came to, and why when auto chose it. */
    private final HandoffChoice choice;
    /** Whether this instance joined another one's capture with a secret of its own (see {@link #warnings()}). */
    private final SecretClash secretClash;
    private final InterfaceWatch watch;
    /** {@code --pack-loops} at work, or null: off, not the kernel's handoff, one loop, or refused (packingRefused). */
    private final PackedLoops packed;
    private final String packingRefused;
    private PrometheusEndpoint endpoint;
    private volatile boolean closed;

    private ProxyServer(ProxyConfig config, HostFacts host, MultiThreadIoEventLoopGroup group, List<Loop> loops,
                        List<NftGuard> guards, GuardShare share, Policy policy, PrometheusMetrics metrics,
                        KernelSyns kernel, SecretClash secretClash, InterfaceWatch watch, HandoffChoice choice) {
        this.kernel = kernel;
        this.choice = choice;
        this.watch = watch;
        this.secretClash = secretClash;
        XdpFastPath xdp = kernel.program();
        this.xdp = xdp;
        this.config = config;
        this.policy = policy;
        this.metrics = metrics;
        this.host = host;
        this.group = group;
        this.loops = loops;
        this.guards = guards;
        this.share = share;
        List<Counters> counters = new ArrayList<>();
        for (Loop l : loops) {
            counters.add(l.counters());
        }
        this.stats = new Stats(counters, () -> {
            long live = 0;
            for (Loop l : loops) {
                live += l.liveConnections();
            }
            return live;
        }, xdp == null ? c -> 0 : c -> xdpCount(xdp, c));
        if (xdp != null) {
            // New keys after a rotation or a secret reload, and the pass switch: a deny or allow list needs every
            // SYN in user space, where the lists are (with the kernel's handoff, the program has them itself).
            ticker.scheduleWithFixedDelay(() -> xdp.refresh(passToUserSpace(config, policy)), 0, 250,
                    TimeUnit.MILLISECONDS);
        }
        PackedLoops packing = null;
        String refused = null;
        if (config.packLoops() && config.handoff() == Handoff.KERNEL && xdp != null && xdp.packs()
                && loops.size() > 1 && loops.size() <= XdpFastPath.PACK_LOOPS) {
            try {
                packing = PackedLoops.start(xdp, loops, share::othersPresent);
                ticker.scheduleWithFixedDelay(packing::tick, LoopPacking.PERIOD_MILLIS, LoopPacking.PERIOD_MILLIS,
                        TimeUnit.MILLISECONDS);
            } catch (XdpException | IOException e) {
                refused = e.getMessage();
            }
        }
        this.packed = packing;
        this.packingRefused = refused;
        if (config.handoff() == Handoff.KERNEL && host.ifindex() != 0) {
            // No ring is bound, so none reports the interface's going (see InterfaceWatch).
            ticker.scheduleWithFixedDelay(watch::poll, 1, 1, TimeUnit.SECONDS);
        }
        if (metrics != null) {
            metrics.stats(stats);
            metrics.loops(() -> loops.stream().mapToLong(Loop::liveConnections).toArray(),
                    () -> packed != null ? packed.taking() : loops.size());
        }
    }

    /** A proxy with a random cookie secret of its own, as without {@code --secret-file}. */
    public static ProxyServer start(ProxyConfig config) throws StartupException {
        return start(config, SecretSource.random());
    }

    /**
     * A proxy whose cookie keys come from {@code secrets}: instances with the same secret file validate each
     * other's cookies, and a second instance with the same listens shares this one's capture and guard.
     */
    public static ProxyServer start(ProxyConfig config, SecretSource secrets) throws StartupException {
        try {
            Platform.ensureAvailable();
        } catch (Platform.UnavailableException e) {
            throw new StartupException(e.getMessage());
        }
        if (!Epoll.isAvailable()) {
            throw new StartupException("Netty's native epoll transport is unavailable: "
                    + Epoll.unavailabilityCause().getMessage());
        }
        // The tables' names do not depend on the handoff, nor does the lock file that counts the instances.
        // With the kernel's handoff a running instance on these listens (an upgrade in place) holds the ports with
        // its listening sockets, which this one's join.
        boolean another = GuardShare.heldByAnother(guards(config));
        HostFacts host = HostFacts.discover(config, another && config.handoff() != Handoff.REPAIR);
        HandoffChoice choice = HandoffChoice.of(config, host, another);
        if (config.handoff() != Handoff.AUTO) {
            return start(config, secrets, host, choice, another);
        }
        try {
            return start(config.withHandoff(choice.handoff()), secrets, host, choice, another);
        } catch (StartupException e) {
            if (choice.handoff() != Handoff.KERNEL || another || e.kernelHandoffRefusal() == null) {
                throw e;
            }
            return start(config.withHandoff(Handoff.REPAIR), secrets, host, choice.fallBack(e.kernelHandoffRefusal()),
                    false);
        }
    }

    private static List<NftGuard> guards(ProxyConfig config) throws StartupException {
        List<NftGuard> guards = new ArrayList<>();
        try {
            for (InetSocketAddress l : config.listens()) {
                guards.add(NftGuard.forListen(l.getAddress(), l.getPort(), config.handoff() == Handoff.KERNEL));
            }
        } catch (NftGuard.GuardException e) {
            throw new StartupException(e.getMessage());
        }
        return guards;
    }

    /**
     * {@link #start(ProxyConfig, SecretSource)} with the handoff chosen: repair or kernel. {@code upgrade}: another
     * instance runs on these listens.
     */
    private static ProxyServer start(ProxyConfig config, SecretSource secrets, HostFacts host, HandoffChoice choice,
                                     boolean upgrade) throws StartupException {
        List<NftGuard> guards = guards(config);
        RelaySettings relaySettings;
        try {
            relaySettings = RelaySettings.of(config);
        } catch (IllegalArgumentException e) {
            throw new StartupException(e.getMessage());
        }
        // Always in a fanout group, one per listen set: a second instance (upgrade in place) joins it.
        int fanout = FanoutGroup.id(host.ifindex(), config.listens());
        int restFanout = FanoutGroup.restId(host.ifindex(), config.listens());
        long skew = Math.min(CLOCK_SKEW_MILLIS, config.keyRotation().toMillis() / 4);
        GuardShare share = null;
        Policy policy = policy(config);
        PrometheusMetrics metrics = config.operations().metrics() != null ? new PrometheusMetrics() : null;

        // Told before anything starts: an explicit --syn-path this host cannot have.
        KernelSyns plan = planSynPath(config, host);
        MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(config.threads(),
                EpollIoHandler.newFactory());
        // Attached before the rings are sized, with every SYN passed on until the capture has joined: auto falls
        // back to the ring on any refusal, and a program that answers the SYNs leaves the SYN ring little to do.
        // Loaded on a thread of its own while the warm-ups run: the kernel's verifier takes about half a second of
        // a core, and the connection warm-up keeps only one loop busy.
        FutureTask<KernelSyns> loading = new FutureTask<>(() -> startSynPath(config, host, secrets, skew, plan));
        Thread.ofPlatform().name("synproxy-syn-path").daemon().start(loading);
        XdpFastPath xdp = null;
        List<Loop> loops = new ArrayList<>();
        boolean started = false;
        // Capture on every interface (index 0) is bound to none of them: no interface's going can end it.
        InterfaceWatch watch = host.ifindex() == 0 ? new InterfaceWatch("every interface", 0, () -> 0)
                : InterfaceWatch.open(host.interfaceName(), host.ifindex());
        try {
            warmUp(host, group, relaySettings, !upgrade);
            KernelSyns kernel = await(loading);
            xdp = kernel.program();
            if (config.handoff() == Handoff.KERNEL && kernel.path() != SynPath.TC) {
                String reason = kernel.fallback() != null ? kernel.fallback()
                        : "--syn-path " + config.synPath().label() + " does not attach";
                throw StartupException.kernelHandoffRefused("--handoff kernel needs the BPF program at tc, which "
                        + (kernel.fallback() != null ? "this host cannot have: " : "") + reason, reason);
            }
            for (EventExecutor executor : group) {
                loops.add(Loop.open((IoEventLoop) executor, config, relaySettings, host, secrets, skew, fanout,
                        restFanout, policy, metrics != null ? metrics : BackendTimings.NONE,
                        metrics != null ? metrics : RingWaits.NONE, kernel.path(), watch));
            }
            // One loop is enough: compiled code is the process's, whichever thread runs it.
            loops.getFirst().warmUpFrontend();
            // Capture only now, warmed up: a second instance takes its share of the flows when it can serve them.
            for (Loop l : loops) {
                try {
                    l.join();
                } catch (LinuxException e) {
                    if (e.errno() == Constants.EINVAL) {
                        throw new StartupException(FanoutGroup.refusal(fanout));
                    }
                    throw e;
                }
            }
            // Only now that the capture has joined: the final ACKs of the handshakes it answers must find a ring.
            if (xdp != null) {
                if (config.handoff() == Handoff.KERNEL) {
                    SourceAccess.Lists lists = policy.access().current();
                    xdp.lists(lists.deny(), lists.allow());
                }
                xdp.refresh(passToUserSpace(config, policy));
            }
            share = GuardShare.join(guards);
            // The fanout group spreads flows over both instances' rings: a final ACK may reach the one that did not
            // answer its SYN, and only a shared secret file makes that one's cookie check pass.
            SecretClash clash = SecretClash.of(secrets, share);
            ProxyServer server = new ProxyServer(config, host, group, loops, guards, share, policy, metrics, kernel,
                    clash, watch, choice);
            server.serveMetrics();
            started = true;
            return server;
        } catch (LinuxException e) {
            throw new StartupException("cannot open the " + (config.handoff() == Handoff.KERNEL ? "listening"
                    : "capture") + " and raw sockets: " + e.getMessage());
        } catch (NftGuard.GuardException | XdpException e) {
            throw new StartupException(e.getMessage());
        } finally {
            if (!started) {
                if (xdp == null) {
                    // Failed before the program was taken up (in the warm-ups): it may still be loading.
                    xdp = programOf(loading);
                }
                if (xdp != null) {
                    xdp.close();
                }
                shutdown(group, loops, guards, share);
                watch.close();
            }
        }
    }

    /** The load's outcome; its startup failure as thrown, anything else as a bug. */
    private static KernelSyns await(FutureTask<KernelSyns> loading) throws StartupException {
        try {
            return loading.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StartupException("interrupted while loading the BPF program");
        } catch (ExecutionException e) {
            switch (e.getCause()) {
                case StartupException s -> throw s;
                case RuntimeException r -> throw r;
                case Error err -> throw err;
                default -> throw new IllegalStateException(e.getCause());
            }
        }
    }

    /** The program the load attached, waiting for it to end; null when it attached none or failed. */
    private static XdpFastPath programOf(FutureTask<KernelSyns> loading) {
        try {
            return loading.get().program();
        } catch (ExecutionException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /**
     * What {@code --syn-path} came to: the program and the path it is attached at, or the ring and, when auto fell
     * back to it, why.
     */
    record KernelSyns(XdpFastPath program, SynPath path, String fallback) {
        static KernelSyns ring(String why) {
            return new KernelSyns(null, SynPath.RING, why);
        }
    }

    /**
     * What {@code --syn-path} comes to before anything is loaded: the ring (and, when auto chose it, why), or the path
     * whose program {@link #startSynPath} loads. An explicit path this host cannot have is a startup failure, told
     * at once.
     */
    private static KernelSyns planSynPath(ProxyConfig config, HostFacts host) throws StartupException {
        SynPath asked = config.synPath();
        if (asked == SynPath.RING) {
            return KernelSyns.ring(null);
        }
        boolean auto = asked == SynPath.AUTO;
        SynPath path = auto ? SynPath.TC : asked;
        String flag = "--syn-path " + asked.label();
        String refusal = null;
        if (host.ifindex() == 0) {
            refusal = "needs one interface (--interface, or a --listen address of one)";
        } else if (host.txMac() == null) {
            refusal = "needs an Ethernet interface: " + host.noTxRing();
        }
        if (refusal != null) {
            if (auto) {
                return KernelSyns.ring(refusal.replaceFirst("^needs", "the program needs"));
            }
            throw new StartupException(flag + " " + refusal);
        }
        boolean v4 = config.listens().stream().anyMatch(l -> l.getAddress() instanceof Inet4Address);
        // With --handoff kernel nothing is captured: tc takes both families.
        if (path == SynPath.TC && v4 && config.handoff() == Handoff.REPAIR
                && config.listens().stream().anyMatch(l -> l.getAddress() instanceof Inet6Address)) {
            // Bound to ETH_P_ALL, a packet socket gets each frame before tc ingress runs: the ring would answer the
            // SYNs the program answers too. XDP runs before packet sockets.
            String why = "IPv4 and IPv6 listens share one capture ring (ETH_P_ALL), which sees every SYN before tc "
                    + "does";
            if (auto) {
                return KernelSyns.ring(why);
            }
            throw new StartupException(flag + ": " + why + ", so both would answer it; use --syn-path xdp or "
                    + "xdp-generic, or one instance per family");
        }
        return new KernelSyns(null, path, null);
    }

    /**
     * Loads and attaches the BPF program {@code plan} names, with its pass switch on: every SYN goes on to the
     * capture ring until {@link XdpFastPath#refresh} turns it off. A program the kernel refuses is a startup failure
     * for an explicit path; auto then answers SYNs from the ring and says why.
     */
    private static KernelSyns startSynPath(ProxyConfig config, HostFacts host, SecretSource secrets, long skew,
                                           KernelSyns plan) throws StartupException {
        if (plan.path() == SynPath.RING) {
            return plan;
        }
        SynPath path = plan.path();
        boolean auto = config.synPath() == SynPath.AUTO;
        // A key ring of its own: the loops' rings belong to their threads.
        KeyRing keys = new KeyRing(secrets, config.keyRotation().toMillis(), skew, System::currentTimeMillis);
        XdpFastPath xdp = null;
        try {
            xdp = XdpFastPath.load(config.listens(), host.txMac(), keys, host.ourMss(), host.ourMss6(), host.windowScale(),
                    config.zeroWindow() ? 0 : 65535, config.operations().invalidAckRstRate(),
                    config.handoff() == Handoff.KERNEL);
            xdp.refresh(true);
            xdp.attach(host.ifindex(), path);
            return new KernelSyns(xdp, path, null);
        } catch (XdpException e) {
            if (xdp != null) {
                xdp.close();
            }
            if (auto) {
                return KernelSyns.ring(e.getMessage());
            }
            throw new StartupException("--syn-path " + config.synPath().label() + ": " + e.getMessage());
        }
    }

    /**
     * The BPF program's share of a counter, counted as the loops count: its SYNs neither left to the loops nor
     * martian (a martian SYN counts under martian only), its SYN/ACKs, its martians; the segments its screen dropped
     * as the loops would have counted them (an invalid ACK left unanswered, a RST or FIN, a martian).
     */
    private static long xdpCount(XdpFastPath xdp, Counter c) {
        return switch (c) {
            case SYN_RECEIVED -> xdp.counter(XdpFastPath.SYN) - xdp.counter(XdpFastPath.PASSED)
                    - xdp.counter(XdpFastPath.MARTIAN);
            case SYNACK_SENT, BPF_SYNACK -> xdp.counter(XdpFastPath.SYNACK);
            case MARTIAN_SOURCE -> xdp.counter(XdpFastPath.MARTIAN) + xdp.counter(XdpFastPath.MARTIAN_SEGMENT);
            case ACK_INVALID -> xdp.counter(XdpFastPath.ACK_DROPPED) + xdp.counter(XdpFastPath.ACK_RST);
            case INVALID_ACK_RST_LIMITED -> xdp.counter(XdpFastPath.ACK_DROPPED);
            case INVALID_ACK_RST -> xdp.counter(XdpFastPath.ACK_RST);
            case HANDOFF_FAILED -> xdp.counter(XdpFastPath.ASSIGN_FAILED);
            case SYN_DENIED -> xdp.counter(XdpFastPath.SYN_DENIED);
            case ACK_DENIED -> xdp.counter(XdpFastPath.ACK_DENIED);
            case OTHER_SEGMENTS -> xdp.counter(XdpFastPath.OTHER_DROPPED);
            case BPF_DROPPED -> xdp.counter(XdpFastPath.ACK_DROPPED) + xdp.counter(XdpFastPath.OTHER_DROPPED)
                    + xdp.counter(XdpFastPath.MARTIAN_SEGMENT);
            default -> 0;
        };
    }

    /** The deny and allow lists, per-source limits and invalid-ACK RST bucket every loop shares. */
    private static Policy policy(ProxyConfig config) throws StartupException {
        try {
            return Policy.of(config.operations(), (long) config.maxConnections() * config.threads(),
                    SegmentGate.monotonicMillis() * 1_000_000L);
        } catch (ConfigException e) {
            throw new StartupException(e.getMessage());
        }
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
        String now = policy.access().reload();
        if (xdp != null && config.handoff() == Handoff.KERNEL) {
            SourceAccess.Lists lists = policy.access().current();
            try {
                xdp.lists(lists.deny(), lists.allow());
            } catch (XdpException e) {
                // The accept's check has the new lists; the program, which answers the SYNs, the old ones.
                throw new ConfigException("the lists were read, but " + e.getMessage() + "; the BPF program keeps "
                        + "the old ones, and connections are checked against the new ones when accepted");
            }
        }
        return now;
    }

    /** Every SYN to user space while a list is in force, unless the program holds the lists (the kernel's handoff). */
    private static boolean passToUserSpace(ProxyConfig config, Policy policy) {
        return policy.access().restricts() && config.handoff() != Handoff.KERNEL;
    }

    /** What the deny and allow lists and per-source limits are, in one line. */
    public String describePolicy() {
        SourceLimits limits = policy.limits();
        return "synproxy: " + policy.access().describe() + (limits == null ? ", no per-source limit"
                : ", per-source table of " + limits.capacity() + " sources (" + (limits.bytes() >> 10) + " KiB)");
    }

    /**
     * Sentences for the operator about how this instance started, each its own log line; empty when there is
     * nothing to say. Today one: another instance protects the same listens on this host (upgrade in place) and
     * this one has no {@code --secret-file}, so while both run the handshakes one answers fail on the other.
     */
    public List<String> warnings() {
        List<String> warnings = new ArrayList<>();
        if (config.handoff() == Handoff.KERNEL) {
            int taps = PacketTaps.afterIp(host.ifindex());
            if (taps > 0) {
                warnings.add("synproxy: warning: --handoff kernel: " + taps + " packet socket(s) of IPv4 or IPv6 "
                        + "receive on " + host.interfaceName() + " (a second synproxy with --handoff repair has "
                        + "such sockets): the kernel then copies each packet for them, the copy loses the connection "
                        + "the BPF program handed over, and its client gets a RST. Stop them, or use --handoff "
                        + "repair.");
            }
        }
        if (packingRefused != null) {
            warnings.add("synproxy: warning: --pack-loops: " + packingRefused + "; the kernel spreads new connections "
                    + "over every loop instead");
        }
        if (secretClash == SecretClash.NONE) {
            return warnings;
        }
        warnings.add("synproxy: warning: another instance protects " + config.listenText() + " on this host and "
                + "shares its capture, " + (secretClash == SecretClash.NO_FILE ? "but this one has no --secret-file"
                : "with another cookie secret (no --secret-file, or another file or version of it)") + ": until one of "
                + "them stops, a client whose final ACK reaches the instance that did not answer its SYN is refused. "
                + "Give every instance the same --secret-file (README \"Upgrade in place\").");
        return warnings;
    }

    /**
     * After the secret file was re-read: an instance joining later compares its secret with the one now in force
     * here, not the one this instance started with.
     */
    public void recordSecret(CookieSecrets secrets) {
        try {
            share.recordSecret(secrets.fingerprint());
        } catch (IOException e) {
            // Only a later instance's warning depends on it; the capture and the guard do not.
        }
    }

    /** Whether the instances sharing the capture share the cookie secret, as far as this one can tell at start. */
    enum SecretClash {
        NONE,
        /** Another instance runs and this one drew a random secret: no other instance can verify its cookies. */
        NO_FILE,
        /** Another instance recorded the fingerprint of another secret (another file, or none of its own). */
        OTHER_SECRET;

        /**
         * Records this instance's secret in the share and compares it with the fingerprint found there. An instance
         * of a version that records none leaves nothing to compare: only the missing file is told then.
         */
        static SecretClash of(SecretSource secrets, GuardShare share) {
            String ours = secrets.current().fingerprint();
            String before;
            try {
                before = share.recordSecret(ours);
            } catch (IOException e) {
                before = "";
            }
            if (!share.othersPresent()) {
                return NONE;
            }
            if (secrets.file() == null) {
                return NO_FILE;
            }
            return before.isEmpty() || before.equals(ours) ? NONE : OTHER_SECRET;
        }
    }

    /**
     * The cold paths once, before the guard opens the port (see {@link Warmup}), and with {@code connections} the
     * connection warm-up: 2 s of a core at full speed, which an upgrade in place does without. Beside the running instance it starved that one's clients: UpgradeIT's
     * clients due during the second instance's start waited up to 75 to 333 ms (p99 74 to 208 ms with the kernel's
     * handoff), against 29 to 44 ms without it (p99 20 ms); the second instance's first clients pay for its JIT
     * instead, while the first still serves its share.
     */
    private static void warmUp(HostFacts host, MultiThreadIoEventLoopGroup group, RelaySettings relaySettings,
                               boolean connections) {
        Warmup.handshake(host.ourMss(), host.ourMss6(), host.windowScale(), host.ipv4(), host.ipv6());
        // Its own scratch memory: the loops' handoffs may already be busy on their threads.
        try (RepairHandoff scratch = new RepairHandoff()) {
            Warmup.repair(scratch, host.ourMss(), host.ourMss6(), host.windowScale(), InetAddress.getLoopbackAddress());
            if (host.ipv6()) {
                Warmup.repair(scratch, host.ourMss(), host.ourMss6(), host.windowScale(), InetAddress.getByName("::1"));
            }
            for (EventExecutor executor : group) {
                Warmup.relay((EventLoop) executor);
            }
            // One loop is enough, as for the front end: compiled code is the process's.
            InetAddress loopback = host.ipv4() ? InetAddress.getLoopbackAddress() : InetAddress.getByName("::1");
            if (connections) {
                ConnectionWarmup.run((EventLoop) group.next(), relaySettings, scratch,
                        new Warmup.Rig(host.ourMss(), host.ourMss6(), host.windowScale()), loopback,
                        ConnectionWarmup.CONNECTIONS, ConnectionWarmup.BUDGET_NANOS);
            }
        } catch (UnknownHostException e) {
            // A literal never needs a lookup; the IPv6 handoff is then linked by its first client.
        }
    }

    /** The one line that says what is protected, through which interface, to which backend. */
    public String describe() {
        return "synproxy: protecting " + config.listenText() + " on " + host.interfaceDescription()
                + ", " + loops.get(0).replyPath()
                + synPathText()
                + ", " + loops.get(0).handoffPath() + handoffText()
                + ", backend " + config.backend().getHostString() + ":" + config.backend().getPort()
                + ", " + loops.size() + " thread(s)"
                + (packed == null ? "" : packed.attached() ? " (new connections on the fewest that carry them, --pack-loops)"
                : " (--pack-loops: new connections on the fewest that carry them once the running instance has gone)")
                + ", guard table"
                + (guards.size() > 1 ? "s" : "") + " inet " + String.join(", inet ", guards.stream().map(NftGuard::table).toList());
    }

    /** Which handoff runs: said when it is the kernel's, or when auto chose it, with why. */
    private String handoffText() {
        if (choice.why() != null) {
            return " (--handoff auto: " + config.handoff().label() + ", " + choice.why() + ")";
        }
        return config.handoff() == Handoff.KERNEL ? " (--handoff kernel)" : "";
    }

    private String synPathText() {
        String asked = "--syn-path " + config.synPath().label();
        if (xdp != null) {
            return ", SYNs answered in the kernel at " + kernel.path().label() + " (" + asked + ")"
                    + (config.operations().listsSources() && config.handoff() != Handoff.KERNEL
                    ? ", every SYN passed on to the rings while a deny or allow list is in force"
                    : ", segments without a connection screened there"
                    + (config.operations().listsSources() ? ", the deny and allow lists held there" : ""));
        }
        return kernel.fallback() == null ? "" : ", SYNs answered from the capture ring (" + asked + ": "
                + kernel.fallback() + ")";
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
     * Completes with one sentence when the proxy cannot go on (its interface is gone); the caller then stops it
     * ({@link #shutdown(PrintWriter, Duration)}). Never completes otherwise.
     */
    public CompletableFuture<String> failure() {
        return watch.failure();
    }

    /** Where passing events are said, a line each, from a loop thread: the interface went down. */
    public void onNotice(Consumer<String> sink) {
        watch.onNotice(sink);
    }

    /** {@link #shutdown(PrintWriter, Duration)} with the config's drain timeout (SIGTERM, SIGINT). */
    public void shutdown(PrintWriter out) {
        shutdown(out, config.drainTimeout());
    }

    /**
     * The whole stop sequence, saying what it does on {@code out}: drains for {@code grace} (none when 0, see
     * {@link #drain}), stops the stats, closes the proxy and the guard, prints the final stats line.
     */
    public void shutdown(PrintWriter out, Duration grace) {
        if (!grace.isZero()) {
            out.println("synproxy: draining: no new connections, " + stats.live()
                    + " live get up to " + grace.toMillis() + " ms");
            out.flush();
            int cut = drain(grace);
            out.println("synproxy: drained, " + cut + " still open at the deadline closed");
            out.flush();
        }
        ticker.shutdownNow();
        close();
        out.println(stats.line());
        out.println(guardRemoved() ? "synproxy: stopped, guard removed"
                : "synproxy: stopped, guard left to the other instance");
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
        if (share.othersPresent()) {
            leaveCapture();
        }
        if (xdp != null) {
            // SYNs go to the loops, which leave them unanswered while draining (or to the other instance).
            xdp.detach();
        }
        for (Loop l : loops) {
            l.startDraining();
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

    /** After {@link #close}: false when another instance still runs and keeps the shared guard. */
    public boolean guardRemoved() {
        return share == null || share.removedGuards();
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
        if (endpoint != null) {
            endpoint.close();
        }
        if (packed != null) {
            packed.close();
        }
        if (xdp != null) {
            xdp.close();
        }
        shutdown(group, loops, guards, share);
        // After the loops: a ring's error asks the watch until its loop is gone.
        watch.close();
    }

    /**
     * Upgrade in place: another instance shares the capture, so this one leaves the fanout group at once (its
     * rings closed on their loops, after a last read) and the kernel hashes every new flow to the other's rings;
     * the other validates the cookies this one sent, as they share the secret. Live relays carry on.
     */
    private void leaveCapture() {
        for (Loop l : loops) {
            l.leaveCapture();
        }
    }

    private static void shutdown(MultiThreadIoEventLoopGroup group, List<Loop> loops, List<NftGuard> guards,
                                 GuardShare share) {
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        for (Loop l : loops) {
            l.close();
        }
        try {
            if (share != null) {
                // Removes the tables only when no other instance shares them.
                share.leave();
            } else {
                for (NftGuard guard : guards) {
                    guard.remove();
                }
            }
        } catch (NftGuard.GuardException e) {
            System.err.println("synproxy: " + e.getMessage());
        }
    }
}
