package io.synproxy.frontend;

/**
 * Which segments a capture ring takes. A loop has two rings: the SYNs in one, everything else (final ACKs, their
 * replays and probes, FIN, RST, the segments of live connections) in the other, drained by the same loop, so that
 * under a SYN flood a real client's final ACK does not wait behind the flood's SYNs, nor its SYN behind an ACK
 * flood. A SYN is what {@code Handshake.isSyn} says: SYN set, ACK, RST and FIN clear.
 */
public enum Segments {
    /** Every segment to a protected address and port (one ring per loop; the warm-up's). */
    ALL,
    /** SYNs only: answered with a cookie, no state; the ring a SYN flood fills. */
    SYNS,
    /** Every segment but the SYNs: the handshakes' final ACKs, live and closed connections' segments. */
    REST,
    /**
     * Every segment to a protected address and port from a source on this host: the loopback addresses (127/8,
     * {@code ::1}) or a listen's own address (a local connection's source when it binds none). The lo ring's: the
     * proxy's own timestamp echo and re-sent early data travel over lo too, with the remote client as source.
     */
    LOCAL
}
