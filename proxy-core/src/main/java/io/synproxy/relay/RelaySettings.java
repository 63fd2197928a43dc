package io.synproxy.relay;

import io.synproxy.config.Keepalive;
import io.synproxy.config.ProxyConfig;
import io.synproxy.config.ProxyProtocol;

import java.net.InetSocketAddress;
import java.util.Objects;

/**
 * Everything one relay needs, fixed before the first adoption.
 *
 * @param backend where every adopted connection is relayed to
 * @param connectTimeoutMillis how long the backend connect may take
 * @param idleTimeoutMillis close a relay silent in both directions this long (0: never)
 * @param proxyProtocol the PROXY header each backend connection starts with
 * @param keepalive TCP keepalive on both legs, or null for the kernel default (off)
 * @param mode copy, splice, or copy until a direction streams ({@link RelayMode})
 * @param pipeBytes the most bytes one direction keeps in its splice pipe (its back-pressure bound)
 */
public record RelaySettings(InetSocketAddress backend, int connectTimeoutMillis, long idleTimeoutMillis,
                            ProxyProtocol proxyProtocol, Keepalive keepalive, RelayMode mode, int pipeBytes) {
    public RelaySettings {
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(proxyProtocol, "proxyProtocol");
        Objects.requireNonNull(mode, "mode");
        if (connectTimeoutMillis < 1) {
            throw new IllegalArgumentException("the backend connect timeout must be at least 1 ms");
        }
        if (idleTimeoutMillis < 0) {
            throw new IllegalArgumentException("the idle timeout must not be negative");
        }
        if (pipeBytes < 4096) {
            throw new IllegalArgumentException("a splice pipe holds at least one page");
        }
    }

    /** The relay part of a validated proxy configuration; the mode comes from {@link RelayMode#PROPERTY}. */
    public static RelaySettings of(ProxyConfig config) {
        return new RelaySettings(config.backend(), (int) config.backendConnectTimeout().toMillis(),
                config.idleTimeout().toMillis(), config.proxyProtocol(), config.keepalive(),
                RelayMode.parse(System.getProperty(RelayMode.PROPERTY)), config.pipeBytes());
    }

    /** The same settings with another mode. */
    public RelaySettings withMode(RelayMode m) {
        return new RelaySettings(backend, connectTimeoutMillis, idleTimeoutMillis, proxyProtocol, keepalive, m,
                pipeBytes);
    }

    /** The same settings with another backend. */
    public RelaySettings withBackend(InetSocketAddress b) {
        return new RelaySettings(b, connectTimeoutMillis, idleTimeoutMillis, proxyProtocol, keepalive, mode, pipeBytes);
    }
}
