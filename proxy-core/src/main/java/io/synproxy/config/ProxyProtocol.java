package io.synproxy.config;

/**
 * Whether the backend connection starts with a PROXY protocol header carrying the real client
 * address (HAProxy's protocol, read by nginx, HAProxy, Envoy, Postfix and others).
 */
public enum ProxyProtocol {
    /** No header: the backend sees the proxy's address. */
    OFF,
    /** The human-readable header: {@code PROXY TCP4 client proxy cport pport\r\n}. */
    V1,
    /** The binary header (16-byte signature, then the addresses). */
    V2
}
