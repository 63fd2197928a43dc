package io.synproxy.frontend;

import io.synproxy.handshake.AckVerdict;

/**
 * The 4-tuples of connections handed off on one event loop (the protected port is implied),
 * each with an optional long value and an optional int (a descriptor, -1 when none). Addresses are
 * 128-bit (high and low halves); an IPv4 tuple is
 * stored in its IPv4-mapped form ({@link AckVerdict#mapped}), so both families share one table
 * without colliding. The {@code int} methods are the IPv4 shorthand.
 * Open addressing with linear probing and backward-shift deletion: no allocation per lookup,
 * no boxing. Single-threaded: only the owning loop touches it.
 */
public final class LiveTuples {
    private long[] clientHi;
    private long[] clientLo;
    private long[] localHi;
    private long[] localLo;
    private int[] ports;
    private long[] values;
    private int[] fds;
    private int size;
    private int mask;

    public LiveTuples(int initialCapacity) {
        allocate(Integer.highestOneBit(Math.max(16, initialCapacity) * 2 - 1));
    }

    private void allocate(int capacity) {
        clientHi = new long[capacity];
        clientLo = new long[capacity];
        localHi = new long[capacity];
        localLo = new long[capacity];
        ports = new int[capacity];
        values = new long[capacity];
        fds = new int[capacity];
        mask = capacity - 1;
    }

    public int size() {
        return size;
    }

    private static int hash(long cHi, long cLo, long lHi, long lLo, int port) {
        long h = cLo * 0x9E3779B97F4A7C15L;
        h = (h ^ h >>> 31 ^ cHi) * 0xBF58476D1CE4E5B9L;
        h = (h ^ h >>> 29 ^ lLo) * 0x94D049BB133111EBL;
        h = (h ^ h >>> 32 ^ lHi) * 0x9E3779B97F4A7C15L;
        h ^= port * 0xC2B2AE35L;
        return (int) (h ^ h >>> 29);
    }

    public boolean contains(long cHi, long cLo, int clientPort, long lHi, long lLo) {
        return slot(cHi, cLo, clientPort, lHi, lLo) >= 0;
    }

    /** The value stored with the tuple, or {@code absent} when the tuple is not here. */
    public long valueOf(long cHi, long cLo, int clientPort, long lHi, long lLo, long absent) {
        int i = slot(cHi, cLo, clientPort, lHi, lLo);
        return i >= 0 ? values[i] : absent;
    }

    /** The descriptor stored with the tuple, or -1 when none was or the tuple is not here. */
    public int fdOf(long cHi, long cLo, int clientPort, long lHi, long lLo) {
        int i = slot(cHi, cLo, clientPort, lHi, lLo);
        return i >= 0 ? fds[i] : -1;
    }

    /** Adds the tuple or replaces its value, without a descriptor; returns false if it was already present. */
    public boolean put(long cHi, long cLo, int clientPort, long lHi, long lLo, long value) {
        return put(cHi, cLo, clientPort, lHi, lLo, value, -1);
    }

    /** Adds the tuple or replaces its value and descriptor; returns false if it was already present. */
    public boolean put(long cHi, long cLo, int clientPort, long lHi, long lLo, long value, int fd) {
        if ((size + 1) * 2 > ports.length) {
            grow();
        }
        int p = clientPort + 1;
        int i = hash(cHi, cLo, lHi, lLo, p) & mask;
        while (ports[i] != 0) {
            if (matches(i, cHi, cLo, p, lHi, lLo)) {
                values[i] = value;
                fds[i] = fd;
                return false;
            }
            i = (i + 1) & mask;
        }
        clientHi[i] = cHi;
        clientLo[i] = cLo;
        localHi[i] = lHi;
        localLo[i] = lLo;
        ports[i] = p;
        values[i] = value;
        fds[i] = fd;
        size++;
        return true;
    }

    private boolean matches(int i, long cHi, long cLo, int p, long lHi, long lLo) {
        return ports[i] == p && clientLo[i] == cLo && localLo[i] == lLo && clientHi[i] == cHi && localHi[i] == lHi;
    }

    /** The slot of the tuple, or -1. The port is stored +1 so that 0 means empty. */
    private int slot(long cHi, long cLo, int clientPort, long lHi, long lLo) {
        int p = clientPort + 1;
        for (int i = hash(cHi, cLo, lHi, lLo, p) & mask; ; i = (i + 1) & mask) {
            if (ports[i] == 0) {
                return -1;
            }
            if (matches(i, cHi, cLo, p, lHi, lLo)) {
                return i;
            }
        }
    }

    public boolean remove(long cHi, long cLo, int clientPort, long lHi, long lLo) {
        int i = slot(cHi, cLo, clientPort, lHi, lLo);
        if (i < 0) {
            return false;
        }
        deleteAt(i);
        size--;
        return true;
    }

    private void deleteAt(int hole) {
        int i = hole;
        for (int j = (i + 1) & mask; ports[j] != 0; j = (j + 1) & mask) {
            int home = hash(clientHi[j], clientLo[j], localHi[j], localLo[j], ports[j]) & mask;
            // Move j back into the hole if its home slot does not lie cyclically in (i, j].
            boolean between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!between) {
                clientHi[i] = clientHi[j];
                clientLo[i] = clientLo[j];
                localHi[i] = localHi[j];
                localLo[i] = localLo[j];
                ports[i] = ports[j];
                values[i] = values[j];
                fds[i] = fds[j];
                i = j;
            }
        }
        clientHi[i] = 0;
        clientLo[i] = 0;
        localHi[i] = 0;
        localLo[i] = 0;
        ports[i] = 0;
        values[i] = 0;
        fds[i] = 0;
    }

    private void grow() {
        long[] oCHi = clientHi;
        long[] oCLo = clientLo;
        long[] oLHi = localHi;
        long[] oLLo = localLo;
        int[] oP = ports;
        long[] oV = values;
        int[] oF = fds;
        allocate(oP.length * 2);
        size = 0;
        for (int i = 0; i < oP.length; i++) {
            if (oP[i] != 0) {
                put(oCHi[i], oCLo[i], oP[i] - 1, oLHi[i], oLLo[i], oV[i], oF[i]);
            }
        }
    }
}
