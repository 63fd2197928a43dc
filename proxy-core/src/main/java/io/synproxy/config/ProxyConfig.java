package io.synproxy.config;

import io.synproxy.xdp.SynPath;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Everything a proxy needs, validated once in {@link Builder#build()} (Aeron's Context.conclude()).
 * Defaults are the safe choice for a host facing the internet.
 */
public record ProxyConfig(
        List<InetSocketAddress> listens,
        InetSocketAddress backend,
        String interfaceName,
        int threads,
        Duration statsInterval,
        Duration keyRotation,
        boolean zeroWindow,
        Duration backendConnectTimeout,
        int maxConnections,
        int ringBytes,
        Duration idleTimeout,
        Duration drainTimeout,
        ProxyProtocol proxyProtocol,
        Keepalive keepalive,
        Operations operations,
        SynPath synPath,
        int pipeBytes,
        Handoff handoff,
        boolean packLoops) {

    public static final int DEFAULT_THREADS = Math.max(1, Runtime.getRuntime().availableProcessors());
    public static final Duration DEFAULT_STATS_INTERVAL = Duration.ofSeconds(10);
    public static final Duration DEFAULT_KEY_ROTATION = Duration.ofSeconds(60);
    public static final Duration DEFAULT_BACKEND_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    public static final int DEFAULT_MAX_CONNECTIONS = 100_000;
    /**
     * 8 MiB of capture ring per loop ({@code --ring-size}): 32,768 header-only frames (256 bytes, the zero-window
     * default) or 4,096 full frames (2 KiB, {@code --no-zero-window}). The frame count is how long a stall
     * (scheduler, GC) the ring rides out under a flood: about 0.16 s at 200k SYN/s per loop with header-only
     * frames. The kernel maps all of it at start, so it is resident whatever the load: the largest part of an
     * idle process. On the 2-core bench host at the maximum flood rate, 4 MiB rings dropped frames in 2 runs
     * of 7 (a stall on a host the flood generator shares), 8 and 16 MiB in none of 5 and 7. Where the BPF program
     * answers the SYNs and screens the rest, no flood reaches the rings and each takes a sixteenth of this.
     */
    public static final int DEFAULT_RING_BYTES = 8 << 20;
    /**
     * 1 MiB splice pipes ({@code --pipe-size}), fs.pipe-max-size's default, which any user may ask for: sixteen
     * times Linux's 64 KiB, so a streaming direction moves up to sixteen times as much per splice(2) pair. iperf3
     * through the two-namespace rig, three rounds: 0.76x the proxy CPU per GB of 64 KiB pipes, upload 1.11x
     * (README "Relay: copy, splice, and memory"). Kernel memory, not the process's: pages the input delivered and
     * the output has not taken yet, at most this much per spliced direction, and only a stream whose output is
     * slower than its input fills it (a TCP socket's own buffers go to 4 to 6 MiB).
     */
    public static final int DEFAULT_PIPE_BYTES = 1 << 20;
    /** The largest {@code --pipe-size}: above fs.pipe-max-size (1 MiB by default) only root gets it. */
    public static final int MAX_PIPE_BYTES = 64 << 20;
    /** The largest {@code --ring-size}: the kernel's ring for one loop, all of it resident. */
    public static final int MAX_RING_BYTES = 1 << 30;
    /**
     * Close a relay after 10 minutes without a byte in either direction: nginx's stream proxy default.
     * Longer than the keep-alive and ping periods of long-lived protocols (database pools, WebSocket pings,
     * SSH keep-alives run at 15 s to 5 min), short enough that clients that vanished without a FIN, or that
     * hold connections open on purpose, give their descriptors back within minutes. 0 turns it off.
     */
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofMinutes(10);
    /** How long live relays may finish after SIGTERM before they are closed. */
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(10);
    /** Keepalive is off unless asked for, as for any kernel socket (and as in nginx and HAProxy). */
    public static final Keepalive DEFAULT_KEEPALIVE = null;

    /** At most this many {@code --listen}: each costs a few filter instructions per packet. */
    public static final int MAX_LISTENS = 16;

    /** Every listen as {@code IP:PORT}, IPv6 in brackets, comma-separated. */
    public String listenText() {
        return String.join(", ", listens.stream().map(ProxyConfig::text).toList());
    }

    /** {@code 10.0.0.1:80} or {@code [fd00:0:0:0:0:0:0:1]:80}. */
    public static String text(InetSocketAddress address) {
        String host = address.getAddress().getHostAddress();
        return (address.getAddress() instanceof Inet6Address ? "[" + host + "]" : host) + ":" + address.getPort();
    }

    /**
     * This configuration with {@code --handoff auto} resolved to {@code chosen} (repair or kernel), as the proxy does at
     * start: with the kernel's handoff the SYN/ACK opens the window, so the zero window goes.
     */
    public ProxyConfig withHandoff(Handoff chosen) {
        if (chosen == Handoff.AUTO) {
            throw new IllegalArgumentException("auto is not a handoff to resolve to");
        }
        return new ProxyConfig(listens, backend, interfaceName, threads, statsInterval, keyRotation,
                zeroWindow && chosen != Handoff.KERNEL, backendConnectTimeout, maxConnections, ringBytes, idleTimeout,
                drainTimeout, proxyProtocol, keepalive, operations, synPath, pipeBytes, chosen, packLoops);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Parses a size in bytes: a number with an optional binary suffix {@code k}, {@code m} or {@code g}
     * ({@code 4m} = 4 MiB); throws with one sentence on bad input or outside {@code [min, max]}.
     */
    public static int parseSize(String what, String text, int min, int max) throws ConfigException {
        String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        int shift = t.endsWith("k") ? 10 : t.endsWith("m") ? 20 : t.endsWith("g") ? 30 : 0;
        String digits = shift == 0 ? t : t.substring(0, t.length() - 1);
        long bytes;
        try {
            long n = digits.isEmpty() || !digits.chars().allMatch(Character::isDigit) || digits.length() > 12
                    ? -1 : Long.parseLong(digits);
            // A count too large to shift is out of range, not wrapped into it (17179869185g is not 1g).
            bytes = n > Long.MAX_VALUE >> shift ? Long.MAX_VALUE : n << shift;
        } catch (NumberFormatException e) {
            bytes = -1;
        }
        if (bytes < 0) {
            throw new ConfigException(what + " '" + text + "' is not a size (e.g. 512k, 4m, 1g)");
        }
        if (bytes < min || bytes > max) {
            throw new ConfigException(what + " '" + text + "' is outside " + (min >> 10) + "k-" + (max >> 20) + "m");
        }
        return (int) bytes;
    }

    /** Parses {@code HOST:PORT}; throws with one sentence on bad input. */
    public static InetSocketAddress parseHostPort(String what, String text) throws ConfigException {
        if (text == null || text.isBlank()) {
            throw new ConfigException(what + " is missing: give it as HOST:PORT");
        }
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new ConfigException(what + " '" + text + "' is not HOST:PORT");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new ConfigException(what + " '" + text + "' has a port that is not a number");
        }
        if (port < 1 || port > 65535) {
            throw new ConfigException(what + " '" + text + "' has port " + port + ", outside 1-65535");
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(host), port);
        } catch (UnknownHostException e) {
            throw new ConfigException(what + " '" + text + "': host '" + host + "' cannot be resolved");
        }
    }

    /**
     * Parses and checks every {@code --listen}: IPv4 or IPv6 ({@code [addr]:port}), no link-local or multicast
     * address, no listen covered by another (the same address twice, or an address beside the wildcard of its
     * family on the same port).
     */
    static List<InetSocketAddress> parseListens(List<String> texts) throws ConfigException {
        if (texts.isEmpty()) {
            return List.of(parseHostPort("--listen", null));
        }
        if (texts.size() > MAX_LISTENS) {
            throw new ConfigException("at most " + MAX_LISTENS + " --listen are supported, got " + texts.size());
        }
        List<InetSocketAddress> out = new ArrayList<>();
        for (String text : texts) {
            InetSocketAddress l = parseHostPort("--listen", text);
            InetAddress a = l.getAddress();
            if (!(a instanceof Inet4Address) && !(a instanceof Inet6Address)) {
                throw new ConfigException("--listen " + text + " is neither IPv4 nor IPv6");
            }
            if (a.isLinkLocalAddress() || a.isMulticastAddress()) {
                throw new ConfigException("--listen " + text + " is a link-local or multicast address: give a global, "
                        + "unique-local or wildcard address");
            }
            for (InetSocketAddress other : out) {
                boolean sameFamily = other.getAddress().getClass() == a.getClass();
                if (sameFamily && other.getPort() == l.getPort() && (other.getAddress().equals(a)
                        || other.getAddress().isAnyLocalAddress() || a.isAnyLocalAddress())) {
                    throw new ConfigException("--listen " + text + " overlaps --listen " + text(other)
                            + ": give each address and port once (a wildcard covers every address of its family)");
                }
            }
            out.add(l);
        }
        return List.copyOf(out);
    }

    /** Filled by the CLI (or a test), validated by {@link #build()}. */
    public static final class Builder {
        private List<String> listens = List.of();
        private String backend;
        private String interfaceName;
        private int threads = DEFAULT_THREADS;
        private Duration statsInterval = DEFAULT_STATS_INTERVAL;
        private Duration keyRotation = DEFAULT_KEY_ROTATION;
        private boolean zeroWindow = true;
        private Duration backendConnectTimeout = DEFAULT_BACKEND_CONNECT_TIMEOUT;
        private int maxConnections = DEFAULT_MAX_CONNECTIONS;
        private int ringBytes = DEFAULT_RING_BYTES;
        private Duration idleTimeout = DEFAULT_IDLE_TIMEOUT;
        private Duration drainTimeout = DEFAULT_DRAIN_TIMEOUT;
        private ProxyProtocol proxyProtocol = ProxyProtocol.OFF;
        private Keepalive keepalive = DEFAULT_KEEPALIVE;
        private Operations operations = Operations.defaults();
        private SynPath synPath = SynPath.AUTO;
        private int pipeBytes = DEFAULT_PIPE_BYTES;
        private Handoff handoff = Handoff.AUTO;
        private boolean packLoops = true;

        /** One address to protect (replaces earlier ones). */
        public Builder listen(String v) {
            listens = v == null ? List.of() : List.of(v);
            return this;
        }

        /** Every address to protect, IPv4 and IPv6 (the repeatable {@code --listen}). */
        public Builder listens(List<String> v) {
            listens = v == null ? List.of() : List.copyOf(v);
            return this;
        }

        public Builder backend(String v) {
            backend = v;
            return this;
        }

        public Builder interfaceName(String v) {
            interfaceName = v;
            return this;
        }

        public Builder threads(int v) {
            threads = v;
            return this;
        }

        public Builder statsInterval(Duration v) {
            statsInterval = v;
            return this;
        }

        public Builder keyRotation(Duration v) {
            keyRotation = v;
            return this;
        }

        /** {@code --pack-loops}: new connections on as few loops as carry them (the kernel's handoff only). */
        public Builder packLoops(boolean v) {
            packLoops = v;
            return this;
        }

        public Builder zeroWindow(boolean v) {
            zeroWindow = v;
            return this;
        }

        public Builder handoff(Handoff v) {
            handoff = v;
            return this;
        }

        public Builder backendConnectTimeout(Duration v) {
            backendConnectTimeout = v;
            return this;
        }

        public Builder maxConnections(int v) {
            maxConnections = v;
            return this;
        }

        /** The capture ring's size per loop, in bytes (whole 64 KiB blocks). */
        public Builder ringBytes(int v) {
            ringBytes = v;
            return this;
        }

        public Builder idleTimeout(Duration v) {
            idleTimeout = v;
            return this;
        }

        public Builder drainTimeout(Duration v) {
            drainTimeout = v;
            return this;
        }

        public Builder proxyProtocol(ProxyProtocol v) {
            proxyProtocol = v;
            return this;
        }

        /** TCP keepalive on both legs, or {@code null} for off. */
        public Builder keepalive(Keepalive v) {
            keepalive = v;
            return this;
        }

        /** Metrics endpoint, deny and allow lists, per-source limits, invalid-ACK RST rate. */
        public Builder operations(Operations v) {
            operations = v == null ? Operations.defaults() : v;
            return this;
        }

        /** {@code --syn-path}: where SYNs are answered ({@link SynPath}). */
        public Builder synPath(SynPath v) {
            synPath = v == null ? SynPath.AUTO : v;
            return this;
        }

        /** {@code --pipe-size}: the most bytes a spliced direction keeps in its pipe, and the pipe's size. */
        public Builder pipeBytes(int v) {
            pipeBytes = v;
            return this;
        }

        public ProxyConfig build() throws ConfigException {
            List<InetSocketAddress> ls = parseListens(listens);
            InetSocketAddress b = parseHostPort("--backend", backend);
            if (interfaceName != null && interfaceName.isBlank()) {
                throw new ConfigException("--interface is empty");
            }
            if (threads < 1 || threads > 64) {
                throw new ConfigException("--threads " + threads + " is outside 1-64");
            }
            if (statsInterval.isNegative()) {
                throw new ConfigException("--stats-interval must not be negative");
            }
            if (keyRotation.toMillis() < 1000) {
                throw new ConfigException("--key-rotation must be at least 1 second");
            }
            if (backendConnectTimeout.toMillis() < 1 || backendConnectTimeout.toMillis() > Integer.MAX_VALUE) {
                throw new ConfigException("--backend-connect-timeout must be between 1 ms and 24 days");
            }
            if (maxConnections < 1) {
                throw new ConfigException("--max-connections must be at least 1");
            }
            if (ringBytes < 2 << 16 || ringBytes > MAX_RING_BYTES) {
                throw new ConfigException("--ring-size must be between 128k and 1024m");
            }
            if (pipeBytes < 4 << 10 || pipeBytes > MAX_PIPE_BYTES) {
                throw new ConfigException("--pipe-size must be between 4k and 64m");
            }
            if (idleTimeout == null || idleTimeout.isNegative()) {
                throw new ConfigException("--idle-timeout must not be negative (0 turns it off)");
            }
            if (drainTimeout == null || drainTimeout.isNegative()) {
                throw new ConfigException("--drain-timeout must not be negative (0 closes at once)");
            }
            if (proxyProtocol == null) {
                throw new ConfigException("--proxy-protocol must be off, v1 or v2");
            }
            if (keepalive != null) {
                keepalive.validate();
            }
            operations.validate();
            for (InetSocketAddress l : ls) {
                if (b.getAddress().equals(l.getAddress()) && b.getPort() == l.getPort()) {
                    throw new ConfigException("--backend must differ from --listen, or the proxy would connect to itself");
                }
            }
            if (handoff == null) {
                throw new ConfigException("--handoff must be auto, repair or kernel");
            }
            if (handoff == Handoff.KERNEL) {
                // The BPF program at tc hands the final ACK over and nothing is captured: the program holds the
                // lists itself, and the per-source limits are kept at accept.
                if (synPath != SynPath.AUTO && synPath != SynPath.TC) {
                    throw new ConfigException("--handoff kernel needs the SYNs answered at tc (--syn-path tc or auto), "
                            + "where the BPF program can hand the final ACK to the kernel");
                }
            }
            // Auto comes to the repair handoff wherever the SYNs are not answered at tc.
            Handoff h = handoff == Handoff.AUTO && synPath != SynPath.AUTO && synPath != SynPath.TC
                    ? Handoff.REPAIR : handoff;
            // With the kernel's handoff the socket exists from the final ACK on: the SYN/ACK opens the window.
            boolean zero = zeroWindow && h != Handoff.KERNEL;
            return new ProxyConfig(ls, b, interfaceName, threads, statsInterval, keyRotation,
                    zero, backendConnectTimeout, maxConnections, ringBytes,
                    idleTimeout, drainTimeout, proxyProtocol, keepalive, operations, synPath, pipeBytes, h, packLoops);
        }
    }
}
