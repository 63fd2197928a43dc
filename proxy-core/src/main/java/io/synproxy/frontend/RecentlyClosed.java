package io.synproxy.frontend;

/**
 * Tuples of connections this loop closed recently. Their late segments (a request that was in
 * flight when the proxy closed, a retransmission, the last ACKs of the close) still carry
 * {@code ack = ISN + 1} and would validate as a cookie again; remembering the tuple keeps the
 * proxy from building a second socket for it.
 *
 * <p>Entries expire after {@code ttlMillis} (the TIME_WAIT length) in insertion order, and the
 * oldest is dropped early when {@code capacity} is reached, so memory is bounded whatever the
 * traffic. Each tuple keeps the ISN of the connection that closed: only an ACK of that ISN is late
 * (or a replay of its final ACK); a new handshake on the tuple has a new cookie and is forgotten
 * here once it verifies. A SYN alone forgets nothing, or a spoofed SYN followed by a replayed
 * final ACK would build a socket again. Each member stores its newest FIFO slot, so an older entry
 * of the same tuple (left by a forget and a new close) expires without taking the newer one with it.
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

    /** Remembers a tuple (128-bit addresses, IPv4 in its mapped form) and the ISN of its closed connection. */
    void add(long cHi, long cLo, int clientPort, long lHi, long lLo, int isn, long nowMillis) {
        expire(nowMillis);
        if (count == ports.length) {
            dropOldest();
        }
        long expiry = nowMillis + ttlMillis;
        int tail = (head + count) % ports.length;
        members.put(cHi, cLo, clientPort, lHi, lLo, (long) tail << 32 | (isn & 0xffffffffL));
        clientHi[tail] = cHi;
        clientLo[tail] = cLo;
        ports[tail] = clientPort;
        localHi[tail] = lHi;
        localLo[tail] = lLo;
        expiries[tail] = expiry;
        count++;
    }

    /** The closed connection's ISN (unsigned) if the tuple is remembered, else -1. */
    long isnOf(long cHi, long cLo, int clientPort, long lHi, long lLo, long nowMillis) {
        if (count == 0) {
            return -1;
        }
        expire(nowMillis);
        long v = members.valueOf(cHi, cLo, clientPort, lHi, lLo, -1L);
        return v == -1L ? -1 : v & 0xffffffffL;
    }

    /** Forgets a tuple (its FIFO slot stays and is skipped when it expires). */
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
        // Only the tuple's newest entry removes it; an older one (same tuple, earlier slot) just goes.
        long v = members.valueOf(clientHi[head], clientLo[head], ports[head], localHi[head], localLo[head], -1L);
        if (v != -1L && (int) (v >>> 32) == head) {
            members.remove(clientHi[head], clientLo[head], ports[head], localHi[head], localLo[head]);
        }
        head = head + 1 == ports.length ? 0 : head + 1;
        count--;
    }
}
