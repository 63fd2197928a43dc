package io.synproxy.bench;

/**
 * One scenario under one flood: everything the report shows. {@code proxyCores} is the user + system CPU of the
 * proxy process (synproxy or HAProxy) over the flood window, NaN when the scenario has none.
 */
record Measurement(Scenario scenario, String floodKind, String generator, long targetPps, double achievedPps,
                   double arrivedPps, double synAckPps, LegitClients.Result legit, double serverProcCores,
                   double proxyCores, double hostBusyCores, double hostSoftirqCores, double rssBeforeMiB,
                   double rssAfterMiB, long noFloodFirstByteP50Micros, String note) {

    /** The proxy process's CPU nanoseconds per SYN/ACK that reached the attacker; NaN without a proxy process. */
    double proxyNsPerSynAck() {
        return synAckPps > 0 ? proxyCores * 1e9 / synAckPps : Double.NaN;
    }

    /** The proxy process's CPU nanoseconds per packet that arrived at the server (SYN or ACK flood alike). */
    double proxyNsPerPacket() {
        return arrivedPps > 0 ? proxyCores * 1e9 / arrivedPps : Double.NaN;
    }

    /**
     * The whole host's softirq nanoseconds per SYN/ACK: where the kernel's own cookies run, but also the
     * generator's and the clients' packets, so an upper bound for any scenario.
     */
    double softirqNsPerSynAck() {
        return synAckPps > 0 ? hostSoftirqCores * 1e9 / synAckPps : Double.NaN;
    }
}
