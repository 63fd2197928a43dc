package io.synproxy.metrics;

/** Every counter synproxy keeps, defined once: the id is its slot, the label is what stats and metrics show. */
public enum Counter {
    RING_PACKETS("ring_packets", "frames read from the capture ring"),
    RING_DROPS("ring_drops", "frames the kernel dropped because the ring was full"),
    PACKETS_REJECTED("rejected", "malformed frames (see rejected_<reason>)"),
    CAPTURE_SHORT("capture_short", "packets larger than a ring frame (with --no-zero-window: data segments GRO "
            + "merged), captured short and left to the kernel; one sent before its socket existed is resent by the "
            + "client"),
    MARTIAN_SOURCE("martian", "segments from a source no TCP peer may have (multicast, broadcast, class E, loopback, "
            + "0.0.0.0/8, our own address, and the IPv6 equivalents), dropped unanswered"),
    NOT_FOR_HOST("not_for_host", "frames not addressed to this host at link level (another host's MAC, broadcast, "
            + "multicast) that reached the ring, dropped; the capture filter drops them before"),
    SYN_RECEIVED("syn", "SYNs seen"),
    SYNACK_SENT("synack", "cookie SYN/ACKs sent"),
    BPF_SYNACK("bpf_synack", "cookie SYN/ACKs the BPF program sent in the kernel (--syn-path tc, xdp, xdp-generic), "
            + "counted in synack too"),
    BPF_DROPPED("bpf_dropped", "segments without SYN and without a connection the BPF program dropped in the kernel "
            + "(an ACK with an invalid cookie beyond --invalid-ack-rst-rate, a RST or FIN, a martian source), counted in "
            + "ack_invalid, other or martian too"),
    SYNACK_SEND_FAILED("synack_failed", "SYN/ACKs the raw socket refused"),
    ACK_VALID("ack_valid", "final ACKs with a valid cookie"),
    ACK_INVALID("ack_invalid", "ACKs with no live connection and a wrong cookie"),
    ACK_LIVE("ack_live", "segments of live connections (the kernel handles them); with the zero window only those "
            + "without payload: the capture filter keeps data segments in the kernel"),
    SEGMENTS_AFTER_CLOSE("late", "segments of connections the proxy already closed (the kernel handles them)"),
    OTHER_SEGMENTS("other", "RST, FIN and other segments with no live connection"),
    HANDOFFS("handoffs", "connections handed to the relay (built with TCP_REPAIR, or by the kernel with "
            + "--handoff kernel)"),
    HANDOFF_FAILED("handoff_failed", "handoffs the kernel refused"),
    BACKEND_CONNECT_FAILED("backend_failed", "backend connections refused or timed out"),
    CONNECTIONS_CLOSED("closed", "relayed connections closed"),
    BYTES_TO_BACKEND("bytes_up", "bytes relayed client to backend"),
    BYTES_TO_CLIENT("bytes_down", "bytes relayed backend to client"),
    BACKEND_REFUSED("backend_refused", "backend connections refused"),
    BACKEND_TIMEOUT("backend_timeout", "backend connections that timed out (--backend-connect-timeout)"),
    BACKEND_RESET("backend_reset", "relays ended by an error on the backend connection (reset mid-stream)"),
    CLIENT_RESET("client_reset", "relays ended by an error on the client connection (reset mid-stream)"),
    IDLE_CLOSED("idle_closed", "relays closed because neither side sent anything for --idle-timeout"),
    LIMIT_RST("limit_rst", "valid final ACKs answered with RST because --max-connections was reached"),
    REPLAY_LIVE("replay_live", "final ACKs (or probes) repeated for a live connection: replays, never a second socket"),
    EARLY_DATA("early_data", "with --no-zero-window, data segments a client sent before it heard from its new socket, "
            + "passed to that socket again because it had not received them (they reached the host before it existed)"),
    EARLY_DATA_HELD("early_data_held", "with --no-zero-window, data segments of a client's first window that its new "
            + "socket already had (asked with TCP_INFO): not sent again"),
    HANDOFF_SEND_FAILED("handoff_send_failed", "segments of a handoff the raw socket refused: the window update to "
            + "the client (it then waits for its zero-window probe), the timestamp echo or re-sent early data to the "
            + "new socket"),
    DRAIN_SYN("drain_syn", "SYNs left unanswered while draining"),
    DRAIN_RST("drain_rst", "valid final ACKs answered with RST while draining"),
    DRAIN_CLOSED("drain_closed", "relays still open when the drain period ended, closed"),
    TX_RING("tx_ring", "replies (SYN/ACK, window update, RST) written into the AF_PACKET TX ring"),
    TX_FALLBACK("tx_fallback", "replies sent on the raw socket because the TX ring was full"),
    TX_DROPS("tx_drops", "TX ring frames the kernel or the driver refused (wrong format, send error)"),
    SPLICED("spliced", "relay directions moved to splice(2) (bulk streams, or every one with relay mode splice)"),
    SPLICE_FALLBACK("splice_fallback", "relay directions that went back to copying after a splice(2) error"),
    RELAY_NO_MEMORY("relay_no_memory", "relays closed because the memory for bytes held back for a full output ran "
            + "out (Netty's direct memory, -XX:MaxDirectMemorySize)"),
    HANDOVER_UNREAD("handover_unread", "frames still unread in a ring when it left a capture shared with another "
            + "instance (upgrade in place): lost between the rings"),
    SYN_DENIED("syn_denied", "SYNs left unanswered because the source is denied (--deny) or not allowed (--allow)"),
    ACK_DENIED("ack_denied", "final ACKs not verified because the source is denied or not allowed"),
    SOURCE_LIMIT_RST("source_limit_rst", "valid final ACKs answered with RST (with --handoff kernel: connections "
            + "reset at accept): the source holds --max-connections-per-source"),
    SOURCE_RATE_RST("source_rate_rst", "valid final ACKs answered with RST (with --handoff kernel: connections "
            + "reset at accept): the source exceeded --max-rate-per-source"),
    SOURCE_TABLE_FULL("source_table_full", "connections admitted untracked because the per-source table was full"),
    INVALID_ACK_RST("invalid_ack_rst", "invalid final ACKs answered with RST (seq = their ACK number)"),
    INVALID_ACK_RST_LIMITED("invalid_ack_rst_limited", "invalid final ACKs left unanswered: --invalid-ack-rst-rate "
            + "was reached"),
    ACK_HOST_SOCKET("ack_host_socket", "ACKs with no live connection here and no valid cookie that this host's kernel "
            + "holds a connection for (another instance on this host handed it off: upgrade in place); left to it, "
            + "never answered with RST");

    private final String label;
    private final String description;

    Counter(String label, String description) {
        this.label = label;
        this.description = description;
    }

    public int id() {
        return ordinal();
    }

    public String label() {
        return label;
    }

    public String description() {
        return description;
    }
}
