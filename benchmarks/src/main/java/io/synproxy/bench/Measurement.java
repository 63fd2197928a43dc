package io.synproxy.bench;

/** One scenario under one flood: everything the report shows. */
record Measurement(Scenario scenario, String floodKind, long targetPps, double achievedPps, double arrivedPps,
                   double synAckPps, LegitClients.Result legit, double serverProcCores, double hostBusyCores,
                   double hostSoftirqCores, double rssBeforeMiB, double rssAfterMiB, long noFloodFirstByteP50Micros, String note) {
}
