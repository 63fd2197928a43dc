package io.synproxy.cli;

import io.synproxy.config.ConfigException;
import io.synproxy.config.Handoff;
import io.synproxy.config.Keepalive;
import io.synproxy.config.Operations;
import io.synproxy.config.ProxyConfig;
import io.synproxy.config.ProxyProtocol;
import io.synproxy.cookie.SecretFile;
import io.synproxy.cookie.SecretSource;
import io.synproxy.server.ProxyServer;
import io.synproxy.server.StartupException;
import io.synproxy.xdp.SynPath;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;

/** {@code synproxy run}: protect a port and relay proven clients to the backend until SIGINT/SIGTERM. */
@Command(name = "run", mixinStandardHelpOptions = true, versionProvider = ManifestVersion.class,
        defaultValueProvider = EnvironmentDefaults.class,
        footer = {"Every option can also be set in the environment, for containers: --listen as SYNPROXY_LISTEN",
            "(several separated by commas), --stats-interval as SYNPROXY_STATS_INTERVAL, and so on."},
        description = {
            "Protect IP:PORT against SYN floods and relay real clients to the backend.",
            "Needs Linux, CAP_NET_RAW and CAP_NET_ADMIN (root), and nft (nftables).",
            "While running, an nftables table keeps the kernel out of the handshake on the port;",
            "it is removed on exit. If the process is killed (-9) the port stays closed (fail-closed)",
            "until the next start or 'synproxy guard --remove --listen IP:PORT'."})
final class RunCommand implements Callable<Integer> {
    @Option(names = "--listen", required = true, paramLabel = "IP:PORT", split = "\\s*,\\s*",
            description = "Address and port to protect, IPv4 or IPv6 in brackets ([2001:db8::1]:443); repeat it or separate by commas "
                    + "(at most 16) to protect several, both families in one process. 0.0.0.0:PORT protects the port "
                    + "on every local IPv4 address, [::]:PORT on every local IPv6 address (IPv6 only): for both "
                    + "families give both, --listen 0.0.0.0:80 --listen [::]:80.")
    List<String> listen;

    @Option(names = "--backend", required = true, paramLabel = "HOST:PORT",
            description = "Where proven clients are relayed (IPv4 or IPv6, e.g. [::1]:8080), whatever the client's family.")
    String backend;

    @Option(names = "--interface", paramLabel = "NAME",
            description = "Interface to capture on. Default: the interface that holds the listen addresses, or every interface for 0.0.0.0, [::] or addresses on several interfaces.")
    String interfaceName;

    @Option(names = "--threads", paramLabel = "N",
            description = "Event loops (one capture ring each, joined by PACKET_FANOUT). Default: ${DEFAULT-VALUE}.")
    int threads = ProxyConfig.DEFAULT_THREADS;

    @Option(names = "--pack-loops", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "With --handoff kernel: new connections go to as few event loops as carry them (one more "
                    + "joins while the busiest is past half a core), not to all at once: fewer threads to preempt "
                    + "where the proxy shares its cores, as a sidecar does. A connection stays on its loop. "
                    + "Default: on.")
    boolean packLoops = true;

    @Option(names = "--stats-interval", paramLabel = "DURATION",
            description = "How often to print the stats line (10s, 500ms, ...); 0 turns it off. Default: 10s.")
    Duration statsInterval = ProxyConfig.DEFAULT_STATS_INTERVAL;

    @Option(names = "--key-rotation", paramLabel = "DURATION",
            description = "Cookie key period; a cookie is valid for one to two periods. Default: 60s.")
    Duration keyRotation = ProxyConfig.DEFAULT_KEY_ROTATION;

    @Option(names = "--backend-connect-timeout", paramLabel = "DURATION",
            description = "Give up on a backend connection after this long. Default: 5s.")
    Duration backendConnectTimeout = ProxyConfig.DEFAULT_BACKEND_CONNECT_TIMEOUT;

    @Option(names = "--max-connections", paramLabel = "N",
            description = "Most live relayed connections per thread. Default: ${DEFAULT-VALUE}.")
    int maxConnections = ProxyConfig.DEFAULT_MAX_CONNECTIONS;

    @Option(names = "--ring-size", paramLabel = "SIZE",
            description = "Capture rings per thread (512k, 4m, ...; 64 KiB blocks; three quarters for the SYNs, a "
                    + "quarter for the other segments, at least 128 KiB each; a sixteenth each where the BPF program "
                    + "answers the SYNs and screens the rest, without a deny or allow list), resident from the start: "
                    + "the longer a stall they ride out under a flood, the more memory. Default: ${DEFAULT-VALUE}.")
    String ringSize = (ProxyConfig.DEFAULT_RING_BYTES >> 20) + "m";

    @Option(names = "--pipe-size", paramLabel = "SIZE",
            description = "Splice pipe per streaming direction (64k, 256k, 1m, ...): the most bytes it holds between "
                    + "the two sockets, and so how much one splice(2) moves. Kernel memory, not this process's. Above "
                    + "fs.pipe-max-size (1m by default) only root gets it; where the kernel refuses, the pipe keeps "
                    + "Linux's 64k. Default: ${DEFAULT-VALUE}.")
    String pipeSize = (ProxyConfig.DEFAULT_PIPE_BYTES >> 20) + "m";

    @Option(names = "--zero-window", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "SYN/ACK advertises window 0 until the handoff is done, then a window update opens it "
                    + "(prevents the client's first data from racing the handoff). Default: on.")
    boolean zeroWindow = true;

    @Option(names = "--idle-timeout", paramLabel = "DURATION",
            description = "Close a relay when neither side has sent anything for this long; 0 turns it off. Default: 10m.")
    Duration idleTimeout = ProxyConfig.DEFAULT_IDLE_TIMEOUT;

    @Option(names = "--drain-timeout", paramLabel = "DURATION",
            description = "On SIGTERM/SIGINT, stop accepting connections and give live ones this long to finish "
                    + "before closing them; 0 closes at once. Default: 10s.")
    Duration drainTimeout = ProxyConfig.DEFAULT_DRAIN_TIMEOUT;
    @Option(names = "--proxy-protocol", paramLabel = "off|v1|v2",
            description = "Start each backend connection with a PROXY protocol header (v1 text, v2 binary) "
                    + "carrying the client's address and the address it connected to. Default: off.")
    ProxyProtocol proxyProtocol = ProxyProtocol.OFF;

    @Option(names = "--keepalive", paramLabel = "IDLE,INTERVAL,COUNT|off", converter = KeepaliveConverter.class,
            description = "TCP keepalive on both legs: first probe after IDLE without traffic, then every INTERVAL, "
                    + "drop after COUNT unanswered probes (e.g. 60s,10s,6; whole seconds). Default: off.")
    Keepalive keepalive = ProxyConfig.DEFAULT_KEEPALIVE;

    @Option(names = "--secret-file", paramLabel = "PATH",
            description = "Cookie master secret shared by a fleet ('synproxy secret new' makes one; mode 600): "
                    + "instances with the same file and NTP time accept each other's cookies, and an upgrade in "
                    + "place loses no handshake. A second line only validates (rotation). SIGHUP re-reads it. "
                    + "Default: a random secret per process.")
    Path secretFile;

    @Option(names = "--metrics", paramLabel = "IP:PORT",
            description = "Serve Prometheus metrics at http://IP:PORT/metrics (text format; OpenMetrics when asked). "
                    + "Default: off.")
    String metrics;

    @Option(names = "--deny", paramLabel = "CIDR",
            description = "Never answer sources in CIDR (IPv4 or IPv6, e.g. 192.0.2.0/24, 2001:db8::/32); repeatable.")
    List<String> deny = List.of();

    @Option(names = "--allow", paramLabel = "CIDR",
            description = "Answer only sources in these CIDRs (repeatable, with --allow-file); --deny still wins.")
    List<String> allow = List.of();

    @Option(names = "--deny-file", paramLabel = "FILE",
            description = "Deny the CIDRs in FILE (one a line, # comments); repeatable; re-read on SIGHUP.")
    List<Path> denyFiles = List.of();

    @Option(names = "--allow-file", paramLabel = "FILE",
            description = "Allow only the CIDRs in FILE (one a line, # comments); repeatable; re-read on SIGHUP.")
    List<Path> allowFiles = List.of();

    @Option(names = "--max-connections-per-source", paramLabel = "N",
            description = "Live connections one source (see --source-prefix) may hold; more get an in-sequence RST. "
                    + "Default: 0 (no limit).")
    int maxConnectionsPerSource;

    @Option(names = "--max-rate-per-source", paramLabel = "N/s",
            description = "New connections one source may open a second (a token bucket, burst N); more get an "
                    + "in-sequence RST. Default: 0 (no limit).")
    String maxRatePerSource = "0";

    @Option(names = "--source-prefix", paramLabel = "/V4,/V6",
            description = "What one source is for the per-source limits: the address (/32,/128, the default) or "
                    + "its network, e.g. /24,/64.")
    String sourcePrefix = "/32,/128";

    @Option(names = "--invalid-ack-rst-rate", paramLabel = "N/s",
            description = "Answer ACKs that complete no handshake (an expired cookie) with RST, at most N a second "
                    + "over all threads; 0 never answers. Default: " + Operations.DEFAULT_INVALID_ACK_RST_RATE + "/s.")
    String invalidAckRstRate = Operations.DEFAULT_INVALID_ACK_RST_RATE + "/s";

    @Option(names = "--syn-path", paramLabel = "auto|ring|tc|xdp|xdp-generic",
            description = "Where SYNs are answered: ring (here, from the capture ring), or in the kernel's receive "
                    + "path by our BPF program, with the same cookies (the final ACK still comes here), so that a SYN "
                    + "flood costs this process nothing: tc (tc ingress, any interface, Linux 6.6+), xdp (native XDP, "
                    + "a driver with XDP_TX), xdp-generic (any interface; slows bulk uploads). tc, xdp and xdp-generic "
                    + "need libbpf 1.x, CAP_BPF and a build made with clang. Default: auto (tc where it can be "
                    + "attached, else ring; the start line says which and why).")
    String synPath = "auto";

    @Option(names = "--handoff", paramLabel = "auto|repair|kernel",
            description = "How a client whose final ACK carries a valid cookie gets its connection: kernel (the BPF "
                    + "program at tc hands the ACK to a listening socket of this process and the kernel builds the "
                    + "connection, as from its own SYN cookies, for about a quarter less CPU per connection; Linux "
                    + "6.9+ with BTF, --syn-path tc or auto on one Ethernet interface, the deny and allow lists held "
                    + "in the BPF program, per-source limits kept at accept, the SYN/ACK opens the window), repair "
                    + "(this process reads the ACK from the capture ring and builds the socket with TCP_REPAIR, "
                    + "behind a zero-window SYN/ACK: any kernel, any --syn-path), or auto (kernel where this host "
                    + "can have it, else repair; the start line says which and why). Default: ${DEFAULT-VALUE}.")
    String handoff = "auto";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        ProxyConfig config;
        try {
            InetSocketAddress metricsAt = metrics == null ? null : ProxyConfig.parseHostPort("--metrics", metrics);
            int[] prefix = Operations.parseSourcePrefix(sourcePrefix);
            Operations operations = new Operations(metricsAt, deny, allow, denyFiles, allowFiles,
                    maxConnectionsPerSource, Operations.parseRate("--max-rate-per-source", maxRatePerSource),
                    prefix[0], prefix[1], Operations.parseRate("--invalid-ack-rst-rate", invalidAckRstRate));
            config = ProxyConfig.builder()
                    .listens(listen).backend(backend).interfaceName(interfaceName).threads(threads)
                    .statsInterval(statsInterval).keyRotation(keyRotation)
                    .backendConnectTimeout(backendConnectTimeout).maxConnections(maxConnections)
                    .ringBytes(ProxyConfig.parseSize("--ring-size", ringSize, 2 << 16, ProxyConfig.MAX_RING_BYTES))
                    .pipeBytes(ProxyConfig.parseSize("--pipe-size", pipeSize, 4 << 10, ProxyConfig.MAX_PIPE_BYTES))
                    .zeroWindow(zeroWindow).packLoops(packLoops)
                    .idleTimeout(idleTimeout).drainTimeout(drainTimeout)
                    .proxyProtocol(proxyProtocol).keepalive(keepalive)
                    .operations(operations)
                    .synPath(parseSynPath(synPath))
                    .handoff(parseHandoff(handoff))
                    .build();
        } catch (ConfigException e) {
            spec.commandLine().getErr().println("synproxy: " + e.getMessage());
            return Main.EXIT_USAGE;
        }
        SecretSource secrets;
        try {
            secrets = secretFile == null ? SecretSource.random() : SecretSource.fromFile(secretFile);
        } catch (SecretFile.SecretFileException e) {
            spec.commandLine().getErr().println("synproxy: " + e.getMessage());
            return Main.EXIT_USAGE;
        }
        ProxyServer server;
        try {
            server = ProxyServer.start(config, secrets);
        } catch (StartupException e) {
            spec.commandLine().getErr().println("synproxy: " + e.getMessage());
            return Main.EXIT_FAILURE;
        }
        var out = spec.commandLine().getOut();
        out.println(server.describe());
        out.println(server.describePolicy());
        out.flush();
        for (String warning : server.warnings()) {
            spec.commandLine().getErr().println(warning);
        }
        spec.commandLine().getErr().flush();
        Reloads reloads = new Reloads(out, spec.commandLine().getErr());
        if (!denyFiles.isEmpty() || !allowFiles.isEmpty()) {
            reloads.add("deny and allow lists", server::reloadAccessLists);
        }
        if (secretFile != null) {
            reloads.add("cookie secrets", () -> {
                try {
                    String done = secrets.reloadOrThrow();
                    server.recordSecret(secrets.current());
                    return done;
                } catch (SecretFile.SecretFileException e) {
                    throw new ConfigException(e.getMessage());
                }
            });
        }
        reloads.install();
        server.printStats(out);
        var err = spec.commandLine().getErr();
        server.onNotice(line -> {
            err.println(line);
            err.flush();
        });
        // Ends with null after a signal's stop, or with the sentence that says why the proxy cannot go on.
        CompletableFuture<String> end = new CompletableFuture<>();
        Thread hook = new Thread(() -> {
            server.shutdown(out);
            end.complete(null);
        }, "synproxy-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        server.failure().thenAccept(end::complete);
        String failure = end.join();
        if (failure == null || !removeHook(hook)) {
            // Stopped by a signal, or a signal's stop began first: it finishes the stop.
            return Main.EXIT_OK;
        }
        err.println("synproxy: " + failure);
        err.flush();
        // No drain: the clients' side of every live connection went with the interface.
        server.shutdown(out, Duration.ZERO);
        return Main.EXIT_FAILURE;
    }

    /** False when the JVM is already shutting down (the hook runs, or has run). */
    private static boolean removeHook(Thread hook) {
        try {
            return Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            return false;
        }
    }

    private static Handoff parseHandoff(String text) throws ConfigException {
        try {
            return Handoff.parse(text);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
    }

    private static SynPath parseSynPath(String text) throws ConfigException {
        try {
            return SynPath.parse(text);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
    }
}
