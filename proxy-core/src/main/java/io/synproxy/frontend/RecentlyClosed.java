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
    /** The FIFO's first size: it doubles up to the capacity as closes come, so an idle loop holds kilobytes. */
    static final int INITIAL_SLOTS = 1024;
    private final LiveTuples members;
    private final int capacity;
    private long[] clientHi;
    private long[] clientLo;
    private int[] ports;
    private long[] localHi;
    private long[] localLo;
    private long[] expiries;
    private final long ttlMillis;
    private int head;
    private int count;

    RecentlyClosed(int capacity, long ttlMillis) {
        this.members = new LiveTuples(Math.min(capacity, INITIAL_SLOTS));
        this.capacity = capacity;
        this.ttlMillis = ttlMillis;
        allocate(Math.min(capacity, INITIAL_SLOTS));
    }

    private void allocate(int slots) {
        clientHi = new long[slots];
        clientLo = new long[slots];
        ports = new int[slots];
        localHi = new long[slots];
        localLo = new long[slots];
        expiries = new long[slots];
    }

    /** The FIFO's current length (it grows on demand up to the capacity). */
    int slots() {
        return ports.length;
    }

    /** Doubles the FIFO (never beyond the capacity), oldest entry first at slot 0, and moves the members' slots. */
    private void grow() {
        long[] cHi = clientHi;
        long[] cLo = clientLo;
        int[] p = ports;
        long[] lHi = localHi;
        long[] lLo = localLo;
        long[] exp = expiries;
        allocate((int) Math.min(capacity, 2L * p.length));
        for (int i = 0; i < count; i++) {
            int from = (head + i) % p.length;
            clientHi[i] = cHi[from];
            clientLo[i] = cLo[from];
            ports[i] = p[from];
            localHi[i] = lHi[from];
            localLo[i] = lLo[from];
            expiries[i] = exp[from];
            long v = members.valueOf(cHi[from], cLo[from], p[from], lHi[from], lLo[from], -1L);
            if (v != -1L && (int) (v >>> 32) == from) {
                members.put(cHi[from], cLo[from], p[from], lHi[from], lLo[from], (long) i << 32 | (v & 0xffffffffL));
            }
        }
        head = 0;
    }

    int size() {
        return members.size();
    }

    /** Remembers a tuple (128-bit addresses, IPv4 in its mapped form) and the ISN of its closed connection. */
    void add(long cHi, long cLo, int clientPort, long lHi, long lLo, int isn, long nowMillis) {
        expire(nowMillis);
        if (count == ports.length) {
            if (ports.length < capacity) {
                grow();
            } else {
                dropOldest();
            }
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
