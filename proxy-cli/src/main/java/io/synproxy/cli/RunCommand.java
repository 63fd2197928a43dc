package io.synproxy.cli;

import io.synproxy.config.ConfigException;
import io.synproxy.config.Keepalive;
import io.synproxy.config.ProxyConfig;
import io.synproxy.config.ProxyProtocol;
import io.synproxy.server.ProxyServer;
import io.synproxy.server.StartupException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** {@code synproxy run}: protect a port and relay proven clients to the backend until SIGINT/SIGTERM. */
@Command(name = "run", mixinStandardHelpOptions = true, versionProvider = ManifestVersion.class,
        description = {
            "Protect IP:PORT against SYN floods and relay real clients to the backend.",
            "Needs Linux, CAP_NET_RAW and CAP_NET_ADMIN (root), and nft (nftables).",
            "While running, an nftables table keeps the kernel out of the handshake on the port;",
            "it is removed on exit. If the process is killed (-9) the port stays closed (fail-closed)",
            "until the next start or 'synproxy guard --remove --listen IP:PORT'."})
final class RunCommand implements Callable<Integer> {
    @Option(names = "--listen", required = true, paramLabel = "IP:PORT",
            description = "Public IPv4 address and port to protect; 0.0.0.0:PORT protects the port on every local address.")
    String listen;

    @Option(names = "--backend", required = true, paramLabel = "HOST:PORT",
            description = "Where proven clients are relayed.")
    String backend;

    @Option(names = "--interface", paramLabel = "NAME",
            description = "Interface to capture on. Default: the interface that holds the listen address, or every interface for 0.0.0.0.")
    String interfaceName;

    @Option(names = "--threads", paramLabel = "N",
            description = "Event loops (one capture ring each, joined by PACKET_FANOUT). Default: ${DEFAULT-VALUE}.")
    int threads = ProxyConfig.DEFAULT_THREADS;

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

    @Option(names = "--zero-window", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "SYN/ACK advertises window 0 until the handoff is done, then a window update opens it "
                    + "(prevents the client's first data from racing the handoff). Default: on.")
    boolean zeroWindow = true;

    @Option(names = "--proxy-protocol", paramLabel = "off|v1|v2",
            description = "Start each backend connection with a PROXY protocol header (v1 text, v2 binary) "
                    + "carrying the client's address and the address it connected to. Default: off.")
    ProxyProtocol proxyProtocol = ProxyProtocol.OFF;

    @Option(names = "--keepalive", paramLabel = "IDLE,INTERVAL,COUNT|off", converter = KeepaliveConverter.class,
            description = "TCP keepalive on both legs: first probe after IDLE without traffic, then every INTERVAL, "
                    + "drop after COUNT unanswered probes (e.g. 60s,10s,6; whole seconds). Default: off.")
    Keepalive keepalive = ProxyConfig.DEFAULT_KEEPALIVE;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        ProxyConfig config;
        try {
            config = ProxyConfig.builder()
                    .listen(listen).backend(backend).interfaceName(interfaceName).threads(threads)
                    .statsInterval(statsInterval).keyRotation(keyRotation)
                    .backendConnectTimeout(backendConnectTimeout).maxConnections(maxConnections)
                    .zeroWindow(zeroWindow)
                    .proxyProtocol(proxyProtocol).keepalive(keepalive)
                    .build();
        } catch (ConfigException e) {
            spec.commandLine().getErr().println("synproxy: " + e.getMessage());
            return Main.EXIT_USAGE;
        }
        ProxyServer server;
        try {
            server = ProxyServer.start(config);
        } catch (StartupException e) {
            spec.commandLine().getErr().println("synproxy: " + e.getMessage());
            return Main.EXIT_FAILURE;
        }
        var out = spec.commandLine().getOut();
        out.println(server.describe());
        out.flush();

        CountDownLatch stopped = new CountDownLatch(1);
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "synproxy-stats");
            t.setDaemon(true);
            return t;
        });
        if (!statsInterval.isZero()) {
            long ms = statsInterval.toMillis();
            ticker.scheduleAtFixedRate(() -> {
                out.println(server.stats().line());
                out.flush();
            }, ms, ms, TimeUnit.MILLISECONDS);
        }
        Thread hook = new Thread(() -> {
            ticker.shutdownNow();
            server.close();
            out.println(server.stats().line());
            out.println("synproxy: stopped, guard removed");
            out.flush();
            stopped.countDown();
        }, "synproxy-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Main.EXIT_OK;
    }
}
