package io.synproxy.frontend;

import io.synproxy.handshake.AckVerdict;

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
    private final long[] clientHi;
    private final long[] clientLo;
    private final int[] ports;
    private final long[] localHi;
    private final long[] localLo;
    private final long[] expiries;
    private final long ttlMillis;
    private int head;
    private int count;

    RecentlyClosed(int capacity, long ttlMillis) {
        this.members = new LiveTuples(Math.min(capacity, 1024));
        this.clientHi = new long[capacity];
        this.clientLo = new long[capacity];
        this.ports = new int[capacity];
        this.localHi = new long[capacity];
        this.localLo = new long[capacity];
        this.expiries = new long[capacity];
        this.ttlMillis = ttlMillis;
    }

    int size() {
        return members.size();
    }

    void add(int client, int clientPort, int local, long nowMillis) {
        add(0, AckVerdict.mapped(client), clientPort, 0, AckVerdict.mapped(local), nowMillis);
    }

    /** Remembers a tuple (128-bit addresses, IPv4 in its mapped form). */
    void add(long cHi, long cLo, int clientPort, long lHi, long lLo, long nowMillis) {
        expire(nowMillis);
        if (count == ports.length) {
            dropOldest();
        }
        long expiry = nowMillis + ttlMillis;
        members.put(cHi, cLo, clientPort, lHi, lLo, expiry);
        int tail = (head + count) % ports.length;
        clientHi[tail] = cHi;
        clientLo[tail] = cLo;
        ports[tail] = clientPort;
        localHi[tail] = lHi;
        localLo[tail] = lLo;
        expiries[tail] = expiry;
        count++;
    }

    boolean contains(int client, int clientPort, int local, long nowMillis) {
        return contains(0, AckVerdict.mapped(client), clientPort, 0, AckVerdict.mapped(local), nowMillis);
    }

    boolean contains(long cHi, long cLo, int clientPort, long lHi, long lLo, long nowMillis) {
        if (count == 0) {
            return false;
        }
        expire(nowMillis);
        return members.contains(cHi, cLo, clientPort, lHi, lLo);
    }

    /** Forgets a tuple (its FIFO slot stays and is skipped when it expires). */
    void forget(int client, int clientPort, int local) {
        forget(0, AckVerdict.mapped(client), clientPort, 0, AckVerdict.mapped(local));
    }

    void forget(long cHi, long cLo, int clientPort, long lHi, long lLo) {
        if (count > 0) {
            members.remove(cHi, cLo, clientPort, lHi, lLo);
        }
    }

    private void expire(long nowMillis) {
        while (count > 0 && expiries[head] <= nowMillis) {
            dropOldest();
        }
    }

    private void dropOldest() {
        // Only the tuple's newest entry removes it; an older one (same tuple, earlier expiry) just goes.
        if (members.valueOf(clientHi[head], clientLo[head], ports[head], localHi[head], localLo[head], Long.MIN_VALUE)
                == expiries[head]) {
            members.remove(clientHi[head], clientLo[head], ports[head], localHi[head], localLo[head]);
        }
        head = head + 1 == ports.length ? 0 : head + 1;
        count--;
    }
}
