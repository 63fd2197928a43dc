package io.synproxy.config;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;

/**
 * Everything a proxy needs, validated once in {@link Builder#build()} (Aeron's Context.conclude()).
 * Defaults are the safe choice for a host facing the internet.
 */
public record ProxyConfig(
        Inet4Address listenAddress,
        int listenPort,
        InetSocketAddress backend,
        String interfaceName,
        int threads,
        Duration statsInterval,
        Duration keyRotation,
        boolean zeroWindow,
        Duration backendConnectTimeout,
        int maxConnections,
        int ringBlockSize,
        int ringBlocks,
        int ringRetireMillis,
        ProxyProtocol proxyProtocol,
        Keepalive keepalive) {

    public static final int DEFAULT_THREADS = Math.max(1, Runtime.getRuntime().availableProcessors());
    public static final Duration DEFAULT_STATS_INTERVAL = Duration.ofSeconds(10);
    public static final Duration DEFAULT_KEY_ROTATION = Duration.ofSeconds(60);
    public static final Duration DEFAULT_BACKEND_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    public static final int DEFAULT_MAX_CONNECTIONS = 100_000;
    public static final int DEFAULT_RING_BLOCK_SIZE = 1 << 18;
    public static final int DEFAULT_RING_BLOCKS = 32;
    public static final int DEFAULT_RING_RETIRE_MILLIS = 1;
    /** Keepalive is off unless asked for, as for any kernel socket (and as in nginx and HAProxy). */
    public static final Keepalive DEFAULT_KEEPALIVE = null;

    /** True when the proxy protects the port on every local IPv4 address. */
    public boolean listenAny() {
        return listenAddress.isAnyLocalAddress();
    }

    public String listenText() {
        return listenAddress.getHostAddress() + ":" + listenPort;
    }

    public static Builder builder() {
        return new Builder();
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

    /** Filled by the CLI (or a test), validated by {@link #build()}. */
    public static final class Builder {
        private String listen;
        private String backend;
        private String interfaceName;
        private int threads = DEFAULT_THREADS;
        private Duration statsInterval = DEFAULT_STATS_INTERVAL;
        private Duration keyRotation = DEFAULT_KEY_ROTATION;
        private boolean zeroWindow = true;
        private Duration backendConnectTimeout = DEFAULT_BACKEND_CONNECT_TIMEOUT;
        private int maxConnections = DEFAULT_MAX_CONNECTIONS;
        private int ringBlockSize = DEFAULT_RING_BLOCK_SIZE;
        private int ringBlocks = DEFAULT_RING_BLOCKS;
        private int ringRetireMillis = DEFAULT_RING_RETIRE_MILLIS;
        private ProxyProtocol proxyProtocol = ProxyProtocol.OFF;
        private Keepalive keepalive = DEFAULT_KEEPALIVE;

        public Builder listen(String v) {
            listen = v;
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

        public Builder zeroWindow(boolean v) {
            zeroWindow = v;
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

        public Builder ring(int blockSize, int blocks, int retireMillis) {
            ringBlockSize = blockSize;
            ringBlocks = blocks;
            ringRetireMillis = retireMillis;
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

        public ProxyConfig build() throws ConfigException {
            InetSocketAddress l = parseHostPort("--listen", listen);
            if (!(l.getAddress() instanceof Inet4Address v4)) {
                throw new ConfigException("--listen " + listen + " is not an IPv4 address (IPv6 is not supported yet)");
            }
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
            if (Integer.bitCount(ringBlockSize) != 1 || ringBlockSize < 4096 || ringBlocks < 2) {
                throw new ConfigException("the ring needs a power-of-two block size of at least 4096 and 2 blocks or more");
            }
            if (ringRetireMillis < 1) {
                throw new ConfigException("the ring block timeout must be at least 1 ms");
            }
            if (b.getAddress().equals(l.getAddress()) && b.getPort() == l.getPort()) {
                throw new ConfigException("--backend must differ from --listen, or the proxy would connect to itself");
            }
            if (proxyProtocol == null) {
                throw new ConfigException("--proxy-protocol must be off, v1 or v2");
            }
            if (keepalive != null) {
                keepalive.validate();
            }
            return new ProxyConfig(v4, l.getPort(), b, interfaceName, threads, statsInterval, keyRotation,
                    zeroWindow, backendConnectTimeout, maxConnections, ringBlockSize, ringBlocks, ringRetireMillis,
                    proxyProtocol, keepalive);
        }
    }
}
