package io.synproxy.xdp;

import java.util.Locale;

/**
 * {@code --syn-path}: where SYNs are answered. In the capture ring by the Java front end, or in the kernel's
 * receive path by the BPF program ({@link XdpFastPath}), with the same cookies either way. The default, {@link #AUTO},
 * is tc where the program can be loaded and attached, and the ring where it cannot.
 */
public enum SynPath {
    /** tc where it can be had (the program in the build, libbpf, CAP_BPF, Linux 6.6+, Ethernet), else the ring. */
    AUTO(-1, 0),
    /** The Java front end answers every SYN from the capture ring. */
    RING(-1, 0),
    /** The program at tc ingress (tcx, Linux 6.6+): after GRO, so the data of live connections passes untouched. */
    TC(Libbpf.BPF_TCX_INGRESS, 0),
    /** The program in the driver (native XDP): a NIC whose driver supports XDP_TX. */
    XDP(Libbpf.BPF_XDP, 1 << 2),
    /** Generic XDP, on any interface: copies every large (GRO) packet to make it linear, so bulk uploads slow. */
    XDP_GENERIC(Libbpf.BPF_XDP, 1 << 1);

    /** linux/bpf.h enum bpf_attach_type. */
    final int attachType;
    /** linux/if_link.h XDP_FLAGS_*, for the XDP paths. */
    final int flags;

    SynPath(int attachType, int flags) {
        this.attachType = attachType;
        this.flags = flags;
    }

    /** As the flag spells it: ring, tc, xdp, xdp-generic. */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** Whether this path attaches the BPF program ({@link #AUTO} is resolved to {@link #TC} or the ring first). */
    public boolean inKernel() {
        return this == TC || this == XDP || this == XDP_GENERIC;
    }

    /** The program in the object that this path attaches. */
    String program() {
        return this == TC ? "synproxy_tc" : "synproxy_xdp";
    }

    public static SynPath parse(String text) {
        for (SynPath p : values()) {
            if (p.label().equals(text)) {
                return p;
            }
        }
        throw new IllegalArgumentException("--syn-path must be auto, ring, tc, xdp or xdp-generic: " + text);
    }
}
