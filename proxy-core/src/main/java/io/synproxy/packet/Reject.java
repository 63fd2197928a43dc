package io.synproxy.packet;

/**
 * Why a frame was rejected by {@link TcpSegment} or {@link TcpOptions}; {@link #NONE} means it was accepted.
 * Parsing never throws on bad input: it returns one of these.
 */
public enum Reject {
    /** The frame was accepted. */
    NONE("ok"),
    /** The IP version field is not 4 (IPv4 parser). */
    NOT_IPV4("not_ipv4"),
    /** Fewer captured bytes than the IPv4 header (minimum or as announced by IHL). */
    TRUNCATED_IP("truncated_ip"),
    /** IHL below 5. */
    BAD_IHL("bad_ihl"),
    /** Total length below the header length, or beyond the captured bytes. */
    BAD_IP_LENGTH("bad_ip_length"),
    /** More-fragments set or a non-zero fragment offset. */
    IP_FRAGMENT("ip_fragment"),
    /** IPv4 header checksum does not verify. */
    BAD_IP_CHECKSUM("bad_ip_checksum"),
    /** IP protocol is not 6. */
    NOT_TCP("not_tcp"),
    /** Fewer than 20 bytes of TCP in the IP payload. */
    TRUNCATED_TCP("truncated_tcp"),
    /** TCP data offset below 5, or a TCP header running past the IP payload. */
    BAD_DATA_OFFSET("bad_data_offset"),
    /** Malformed TCP option list. */
    BAD_TCP_OPTION("bad_tcp_option"),
    /** TCP checksum over pseudo-header and segment does not verify. */
    BAD_TCP_CHECKSUM("bad_tcp_checksum"),
    /** The IP version field is not 6 (IPv6 parser). */
    NOT_IPV6("not_ipv6"),
    /** IPv6 payload length beyond the captured bytes, or an extension header running past the payload. */
    BAD_IPV6_LENGTH("bad_ipv6_length"),
    /** An IPv6 extension header that is not skipped: a routing header with segments left, or too many headers. */
    BAD_IPV6_EXTENSION("bad_ipv6_extension"),
    /** A segment to a port that is not protected (an IPv6 packet with extension headers the filter let through). */
    NOT_OUR_PORT("not_our_port");

    private final String label;

    Reject(String label) {
        this.label = label;
    }

    /** Short snake_case name for metrics. */
    public String label() {
        return label;
    }
}
