package io.synproxy.bench;

/** A running spoofed flood, whatever generates it: what it sent so far, and how to stop it. */
interface Flood {
    /** Packets handed to the attacker's interface so far. */
    long sent();

    /** Frames the generator's TX ring refused (0 for generators that cannot tell). */
    long wrongFormat();

    void stop();
}
