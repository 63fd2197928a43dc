package io.synproxy.xdp;

/**
 * {@code --xdp}: whether IPv4 SYNs are answered by the XDP program in the kernel's receive path, and how it is attached.
 */
public enum XdpMode {
    /** The Java front end answers every SYN (the default). */
    OFF(0),
    /** Generic XDP, after the kernel has built its socket buffer: any interface, veth included. */
    SKB(1 << 1),
    /** In the driver, before any socket buffer: a NIC whose driver supports XDP_TX. */
    NATIVE(1 << 2);

    /** linux/if_link.h XDP_FLAGS_*. */
    final int flags;

    XdpMode(int flags) {
        this.flags = flags;
    }

    /** {@code off}, {@code skb} or {@code native}, as the flag takes it. */
    public static XdpMode parse(String text) {
        for (XdpMode m : values()) {
            if (m.name().equalsIgnoreCase(text)) {
                return m;
            }
        }
        throw new IllegalArgumentException("--xdp must be off, skb or native: " + text);
    }
}
