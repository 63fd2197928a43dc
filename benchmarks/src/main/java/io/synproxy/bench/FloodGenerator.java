package io.synproxy.bench;

import java.util.Locale;

/**
 * Who floods: the bench's own AF_PACKET TX ring writer (Linux-like SYN options, the default), trafgen
 * (netsniff-ng, one core, option-less 40-byte SYNs, its own TX ring), or {@code hping3 --flood --rand-source}
 * (a raw socket through the attacker's IP stack: the slowest, the one most people try first).
 */
enum FloodGenerator {
    TXRING("txring", null),
    TRAFGEN("trafgen", "trafgen"),
    HPING3("hping3", "hping3");

    final String label;
    /** The tool it needs installed, or null. */
    final String tool;

    FloodGenerator(String label, String tool) {
        this.label = label;
        this.tool = tool;
    }

    static FloodGenerator byLabel(String label) {
        for (FloodGenerator g : values()) {
            if (g.label.equals(label.toLowerCase(Locale.ROOT))) {
                return g;
            }
        }
        throw new IllegalArgumentException("unknown flood generator " + label + " (txring, trafgen, hping3)");
    }
}
