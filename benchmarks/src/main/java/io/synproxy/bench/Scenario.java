package io.synproxy.bench;

import java.util.List;

/** The defences compared, each in front of the same nginx with the same small accept backlog. */
enum Scenario {
    UNPROTECTED("unprotected", "kernel listener, tcp_syncookies=0, backlog 128"),
    KERNEL_SYNCOOKIES("kernel-syncookies", "kernel listener, tcp_syncookies=1, backlog 128"),
    NFT_SYNPROXY("nft-synproxy", "netfilter SYNPROXY (nftables) in front of the kernel listener"),
    SYNPROXY("synproxy", "this project as it starts by default (--syn-path auto: SYNs answered in the kernel "
            + "by its BPF program at tc where it can be attached), relaying to nginx on 127.0.0.1"),
    SYNPROXY_RING("synproxy-ring", "this project with --syn-path ring (every SYN answered by the Java front end "
            + "from the capture ring), relaying to nginx on 127.0.0.1"),
    HAPROXY_SYNCOOKIES("haproxy-syncookies",
            "HAProxy (mode tcp) on a kernel listener, tcp_syncookies=1, backlog 128, relaying to nginx on 127.0.0.1");

    /** What a run compares unless told otherwise; HAProxy joins when it is installed and the run is a full one. */
    static final List<Scenario> QUICK = List.of(UNPROTECTED, KERNEL_SYNCOOKIES, NFT_SYNPROXY, SYNPROXY, SYNPROXY_RING);

    final String label;
    final String description;

    Scenario(String label, String description) {
        this.label = label;
        this.description = description;
    }

    static Scenario byLabel(String label) {
        for (Scenario s : values()) {
            if (s.label.equals(label)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown scenario " + label);
    }
}
