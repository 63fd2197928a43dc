package io.synproxy.frontend;

import static io.synproxy.handshake.AckVerdict.mapped;

/**
 * The tests' IPv4 shorthand over {@link LiveTuples}: 32-bit addresses, stored in their IPv4-mapped form as the
 * gate stores them. The product only ever passes 128-bit addresses, so the shorthand lives here.
 */
final class Ipv4Tuples {
    final LiveTuples table;

    Ipv4Tuples(int initialCapacity) {
        this.table = new LiveTuples(initialCapacity);
    }

    int size() {
        return table.size();
    }

    boolean contains(int client, int clientPort, int local) {
        return table.contains(0, mapped(client), clientPort, 0, mapped(local));
    }

    long valueOf(int client, int clientPort, int local, long absent) {
        return table.valueOf(0, mapped(client), clientPort, 0, mapped(local), absent);
    }

    /** Adds the tuple with value 0; false if it was already present. */
    boolean add(int client, int clientPort, int local) {
        return put(client, clientPort, local, 0L);
    }

    boolean put(int client, int clientPort, int local, long value) {
        return table.put(0, mapped(client), clientPort, 0, mapped(local), value);
    }

    boolean remove(int client, int clientPort, int local) {
        return table.remove(0, mapped(client), clientPort, 0, mapped(local));
    }
}
