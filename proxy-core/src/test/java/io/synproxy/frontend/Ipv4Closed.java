package io.synproxy.frontend;

import static io.synproxy.handshake.AckVerdict.mapped;

/** The tests' IPv4 shorthand over {@link RecentlyClosed} (see {@link Ipv4Tuples}). */
final class Ipv4Closed {
    final RecentlyClosed table;

    Ipv4Closed(int capacity, long ttlMillis) {
        this.table = new RecentlyClosed(capacity, ttlMillis);
    }

    int size() {
        return table.size();
    }

    void add(int client, int clientPort, int local, int isn, long nowMillis) {
        table.add(0, mapped(client), clientPort, 0, mapped(local), isn, nowMillis);
    }

    boolean contains(int client, int clientPort, int local, long nowMillis) {
        return isnOf(client, clientPort, local, nowMillis) >= 0;
    }

    long isnOf(int client, int clientPort, int local, long nowMillis) {
        return table.isnOf(0, mapped(client), clientPort, 0, mapped(local), nowMillis);
    }

    void forget(int client, int clientPort, int local) {
        table.forget(0, mapped(client), clientPort, 0, mapped(local));
    }
}
