package io.synproxy.frontend;

/**
 * Tuples of connections this loop closed recently. Their late segments (a request that was in
 * flight when the proxy closed, a retransmission, the last ACKs of the close) still carry
 * {@code ack = ISN + 1} and would validate as a cookie again; remembering the tuple keeps the
 * proxy from building a second socket for it.
 *
 * <p>Entries expire after {@code ttlMillis} (the TIME_WAIT length) in insertion order, and the
 * oldest is dropped early when {@code capacity} is reached, so memory is bounded whatever the
 * traffic. A new SYN for a remembered tuple forgets it: the client has started a new connection.
 * Each member stores the expiry of its newest FIFO entry, so an older entry of the same tuple
 * (left by a forget and a new close) expires without taking the newer one with it.
 * Single-threaded, like everything on a loop.
 */
final class RecentlyClosed {
    private final LiveTuples members;
    private final int[] clients;
    private final int[] ports;
    private final int[] locals;
    private final long[] expiries;
    private final long ttlMillis;
    private int head;
    private int count;

    RecentlyClosed(int capacity, long ttlMillis) {
        this.members = new LiveTuples(Math.min(capacity, 1024));
        this.clients = new int[capacity];
        this.ports = new int[capacity];
        this.locals = new int[capacity];
        this.expiries = new long[capacity];
        this.ttlMillis = ttlMillis;
    }

    int size() {
        return members.size();
    }

    void add(int client, int clientPort, int local, long nowMillis) {
        expire(nowMillis);
        if (count == clients.length) {
            dropOldest();
        }
        long expiry = nowMillis + ttlMillis;
        members.put(client, clientPort, local, expiry);
        int tail = (head + count) % clients.length;
        clients[tail] = client;
        ports[tail] = clientPort;
        locals[tail] = local;
        expiries[tail] = expiry;
        count++;
    }

    boolean contains(int client, int clientPort, int local, long nowMillis) {
        if (count == 0) {
            return false;
        }
        expire(nowMillis);
        return members.contains(client, clientPort, local);
    }

    /** Forgets a tuple (its FIFO slot stays and is skipped when it expires). */
    void forget(int client, int clientPort, int local) {
        if (count > 0) {
            members.remove(client, clientPort, local);
        }
    }

    private void expire(long nowMillis) {
        while (count > 0 && expiries[head] <= nowMillis) {
            dropOldest();
        }
    }

    private void dropOldest() {
        // Only the tuple's newest entry removes it; an older one (same tuple, earlier expiry) just goes.
        if (members.valueOf(clients[head], ports[head], locals[head], Long.MIN_VALUE) == expiries[head]) {
            members.remove(clients[head], ports[head], locals[head]);
        }
        head = head + 1 == clients.length ? 0 : head + 1;
        count--;
    }
}
