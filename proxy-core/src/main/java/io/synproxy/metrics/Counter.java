package io.synproxy.metrics;

/** Every counter synproxy keeps, defined once: the id is its slot, the label is what stats and metrics show. */
public enum Counter {
    RING_PACKETS("ring_packets", "frames read from the capture ring"),
    RING_DROPS("ring_drops", "frames the kernel dropped because the ring was full"),
    PACKETS_REJECTED("rejected", "malformed frames (see rejected_<reason>)"),
    SYN_RECEIVED("syn", "SYNs seen"),
    SYNACK_SENT("synack", "cookie SYN/ACKs sent"),
    SYNACK_SEND_FAILED("synack_failed", "SYN/ACKs the raw socket refused"),
    ACK_VALID("ack_valid", "final ACKs with a valid cookie"),
    ACK_INVALID("ack_invalid", "ACKs with no live connection and a wrong cookie"),
    ACK_LIVE("ack_live", "segments of live connections (the kernel handles them)"),
    SEGMENTS_AFTER_CLOSE("late", "segments of connections the proxy already closed (the kernel handles them)"),
    OTHER_SEGMENTS("other", "RST, FIN and other segments with no live connection"),
    HANDOFFS("handoffs", "sockets built with TCP_REPAIR"),
    HANDOFF_FAILED("handoff_failed", "handoffs the kernel refused"),
    BACKEND_CONNECT_FAILED("backend_failed", "backend connections refused or timed out"),
    CONNECTIONS_CLOSED("closed", "relayed connections closed"),
    BYTES_TO_BACKEND("bytes_up", "bytes relayed client to backend"),
    BYTES_TO_CLIENT("bytes_down", "bytes relayed backend to client");

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
