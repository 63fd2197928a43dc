package io.synproxy.server;

import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.util.concurrent.EventExecutor;
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
import io.synproxy.metrics.Counters;
import io.synproxy.metrics.Stats;
import io.synproxy.relay.Relay;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
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
    private final NftGuard guard;
    private final Stats stats;
    private volatile boolean closed;

    private record Loop(PacketRing ring, RawSender sender, RepairHandoff handoff, FrontendHandle handle,
                        Counters counters) {
    }

    private ProxyServer(ProxyConfig config, String interfaceDescription, MultiThreadIoEventLoopGroup group,
                        List<Loop> loops, NftGuard guard) {
        this.config = config;
        this.interfaceDescription = interfaceDescription;
        this.group = group;
        this.loops = loops;
        this.guard = guard;
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
        NftGuard guard;
        try {
            guard = NftGuard.forListen(config.listenAddress(), config.listenPort());
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
            } else if (!config.listenAny()) {
                nif = NetworkInterface.getByInetAddress(config.listenAddress());
                if (nif == null) {
                    throw new StartupException(config.listenAddress().getHostAddress()
                            + " is not an address of this host: give --listen an address assigned to a local interface");
                }
            } else {
                nif = null;
            }
            ifindex = nif == null ? 0 : nif.getIndex();
            ifaceText = nif == null ? "all interfaces" : "interface " + nif.getName();
            mtu = nif == null ? smallestMtu() : nif.getMTU();
        } catch (SocketException e) {
            throw new StartupException("cannot read the network interfaces: " + e.getMessage());
        }
        ensurePortFree(config);

        int ourMss = Math.max(536, Math.min(mtu, 65535) - 40);
        int ourWscale = kernelReceiveWindowScale();
        byte[] master = new byte[32];
        new SecureRandom().nextBytes(master);
        int fanout = config.threads() > 1 ? (int) (ProcessHandle.current().pid() & 0xffff) : -1;
        int address = config.listenAny() ? 0 : java.nio.ByteBuffer.wrap(config.listenAddress().getAddress()).getInt();

        MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(config.threads(), EpollIoHandler.newFactory());
        List<Loop> loops = new ArrayList<>();
        boolean started = false;
        try {
            for (EventExecutor executor : group) {
                IoEventLoop loop = (IoEventLoop) executor;
                PacketRing ring = PacketRing.open(ifindex, address, config.listenPort(), config.ringBlockSize(),
                        config.ringBlocks(), config.ringRetireMillis(), fanout);
                RawSender sender;
                RepairHandoff handoff;
                try {
                    sender = new RawSender();
                } catch (LinuxException e) {
                    ring.close();
                    throw e;
                }
                handoff = new RepairHandoff();
                Counters counters = new Counters();
                KeyRing keys = new KeyRing(master, config.keyRotation().toMillis(), System::currentTimeMillis);
                Handshake handshake = new Handshake(new SynCookie(keys), ourMss, ourWscale, config.zeroWindow());
                Relay relay = new Relay((EventLoop) loop, config.backend(), counters,
                        (int) config.backendConnectTimeout().toMillis());
                relay.proxyProtocol(config.proxyProtocol()).keepalive(config.keepalive());
                FrontendHandle handle = new FrontendHandle(ring, sender, handshake, handoff, counters, relay,
                        config.maxConnections());
                loops.add(new Loop(ring, sender, handoff, handle, counters));
                IoRegistration registration = loop.register(handle).syncUninterruptibly().getNow();
                loop.submit(() -> registration.submit(EpollIoOps.EPOLLIN)).syncUninterruptibly();
            }
            Warmup.handshake(ourMss, ourWscale);
            // Its own scratch memory: the loops' handoffs may already be busy on their threads.
            try (RepairHandoff scratch = new RepairHandoff()) {
                Warmup.repair(scratch, ourMss, ourWscale);
            }
            for (EventExecutor executor : group) {
                Warmup.relay((EventLoop) executor);
            }
            guard.install();
            started = true;
            return new ProxyServer(config, ifaceText, group, loops, guard);
        } catch (LinuxException e) {
            throw new StartupException("cannot open the capture and raw sockets: " + e.getMessage());
        } catch (NftGuard.GuardException e) {
            throw new StartupException(e.getMessage());
        } finally {
            if (!started) {
                shutdown(group, loops, guard);
            }
        }
    }

    /** The one line that says what is protected, through which interface, to which backend. */
    public String describe() {
        return "synproxy: protecting " + config.listenText() + " on " + interfaceDescription
                + ", backend " + config.backend().getHostString() + ":" + config.backend().getPort()
                + ", " + loops.size() + " thread(s), guard table inet " + guard.table();
    }

    public Stats stats() {
        return stats;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        shutdown(group, loops, guard);
    }

    private static void shutdown(MultiThreadIoEventLoopGroup group, List<Loop> loops, NftGuard guard) {
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        for (Loop l : loops) {
            l.ring().close();
            l.sender().close();
            l.handoff().close();
        }
        try {
            guard.remove();
        } catch (NftGuard.GuardException e) {
            System.err.println("synproxy: " + e.getMessage());
        }
    }

    /** A listener already on the port would answer SYNs itself: refuse to start. */
    private static void ensurePortFree(ProxyConfig config) throws StartupException {
        try (Socket probe = new Socket()) {
            // SO_REUSEADDR as any server uses: a listener still fails the bind, our own TIME_WAIT sockets from a
            // previous run (the handed-off sockets are bound to this port) do not.
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(config.listenAddress(), config.listenPort()));
        } catch (IOException e) {
            throw new StartupException("port " + config.listenText() + " is already in use by another socket: "
                    + "stop what listens there (the kernel would answer SYNs itself) or choose another port");
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
            // Not Files.readString: on JDK 25 it returns only the first byte of a /proc/sys file.
            String[] rmem = String.join(" ", Files.readAllLines(Path.of("/proc/sys/net/ipv4/tcp_rmem"))).trim().split("\\s+");
            space = Long.parseLong(rmem[2]);
            space = Math.max(space, Long.parseLong(String.join("", Files.readAllLines(Path.of("/proc/sys/net/core/rmem_max"))).trim()));
        } catch (IOException | RuntimeException e) {
            // Keep the default of a stock kernel.
        }
        int log = 63 - Long.numberOfLeadingZeros(Math.max(space, 1));
        return Math.max(0, Math.min(14, log - 15));
    }
}
