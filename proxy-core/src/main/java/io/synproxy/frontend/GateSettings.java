package io.synproxy.frontend;

/**
 * What a {@link SegmentGate} is told at construction.
 *
 * @param ipv4 whether IPv4 addresses are protected (IPv4 packets are rejected as {@code not_ipv6} otherwise)
 * @param ipv6 whether IPv6 addresses are protected (IPv6 packets are rejected as {@code not_ipv4} otherwise)
 * @param ports6 the protected IPv6 ports: checked by the gate for IPv6 packets with extension headers, which the
 *               capture filter passes without looking at their port
 * @param maxConnections most live connections; a proven client beyond it gets a RST
 * @param closedTupleMillis how long a closed connection's tuple is remembered; raised to at least
 *                          {@link #TIME_WAIT_MILLIS}. It must cover the cookie lifetime (up to two key periods), or a
 *                          final ACK replayed after the tuple was forgotten but while its cookie still verifies would
 *                          build a socket again
 */
public record GateSettings(boolean ipv4, boolean ipv6, int[] ports6, int maxConnections, long closedTupleMillis) {
    /** Linux's TIME_WAIT length: the least a closed tuple is remembered. */
    public static final long TIME_WAIT_MILLIS = 60_000;

    public GateSettings {
        ports6 = ports6.clone();
        closedTupleMillis = Math.max(TIME_WAIT_MILLIS, closedTupleMillis);
    }

    /** The settings for cookies that rotate every {@code keyRotationMillis}: closed tuples outlive two periods. */
    public static GateSettings forKeyRotation(boolean ipv4, boolean ipv6, int[] ports6, int maxConnections,
                                              long keyRotationMillis) {
        return new GateSettings(ipv4, ipv6, ports6, maxConnections, 2 * keyRotationMillis + 1000);
    }

    @Override
    public int[] ports6() {
        return ports6.clone();
    }
}
