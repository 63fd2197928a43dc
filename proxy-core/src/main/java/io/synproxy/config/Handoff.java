package io.synproxy.config;

import java.util.Locale;

/**
 * {@code --handoff}: how a client whose final ACK carries a valid cookie gets its established kernel socket.
 */
public enum Handoff {
    /**
     * The default: {@link #KERNEL} where this host can have it (the SYNs answered at tc on one Ethernet interface,
     * Linux 6.9 or newer with its BTF, and not beside a running instance with the repair handoff), else
     * {@link #REPAIR}. The proxy resolves it at start, and the start line says which it came to and why.
     */
    AUTO,
    /**
     * The Java front end reads the final ACK from the capture ring and builds the socket with TCP_REPAIR, behind a
     * zero-window SYN/ACK (any kernel, any --syn-path, deny and allow lists, per-source limits).
     */
    REPAIR,
    /**
     * The BPF program at tc hands the final ACK to the proxy's listening socket (bpf_sk_assign_tcp_reqsk, Linux 6.9),
     * the kernel builds the connection in softirq as from its own SYN cookies, and the proxy accepts it. No capture
     * ring, no TCP_REPAIR: a connection costs the proxy what it costs a proxy behind the kernel's own cookies. The
     * BPF program holds the deny and allow lists; the per-source limits are kept at accept.
     */
    KERNEL;

    /** As the flag spells it. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Handoff parse(String text) {
        for (Handoff h : values()) {
            if (h.label().equals(text)) {
                return h;
            }
        }
        throw new IllegalArgumentException("--handoff must be auto, repair or kernel: " + text);
    }
}
