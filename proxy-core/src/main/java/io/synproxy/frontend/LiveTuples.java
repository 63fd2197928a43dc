package io.synproxy.frontend;

/**
 * The 4-tuples of connections handed off on one event loop (the protected port is implied),
 * each with an optional long value.
 * Open addressing with linear probing and backward-shift deletion: no allocation per lookup,
 * no boxing. Single-threaded: only the owning loop touches it.
 */
public final class LiveTuples {
    private static final long EMPTY = 0L;
    private long[] addresses;
    private int[] ports;
    private long[] values;
    private int size;
    private int mask;

    public LiveTuples(int initialCapacity) {
        int capacity = Integer.highestOneBit(Math.max(16, initialCapacity) * 2 - 1);
        addresses = new long[capacity];
        ports = new int[capacity];
        values = new long[capacity];
        mask = capacity - 1;
    }

    public int size() {
        return size;
    }

    /** Packs (client address, local address); the port is stored apart, +1 so that 0 means empty. */
    private static long addressKey(int client, int local) {
        return (client & 0xffffffffL) << 32 | (local & 0xffffffffL);
    }

    private static int hash(long a, int port) {
        long h = a * 0x9E3779B97F4A7C15L ^ (port * 0xC2B2AE35L);
        return (int) (h ^ h >>> 29);
    }

    public boolean contains(int client, int clientPort, int local) {
        return slot(client, clientPort, local) >= 0;
    }

    /** The value stored with the tuple, or {@code absent} when the tuple is not here. */
    public long valueOf(int client, int clientPort, int local, long absent) {
        int i = slot(client, clientPort, local);
        return i >= 0 ? values[i] : absent;
    }

    /** Adds the tuple with value 0; returns false if it was already present. */
    public boolean add(int client, int clientPort, int local) {
        return put(client, clientPort, local, 0L);
    }

    /** Adds the tuple or replaces its value; returns false if it was already present. */
    public boolean put(int client, int clientPort, int local, long value) {
        if ((size + 1) * 2 > addresses.length) {
            grow();
        }
        long a = addressKey(client, local);
        int p = clientPort + 1;
        int i = hash(a, p) & mask;
        while (ports[i] != 0) {
            if (ports[i] == p && addresses[i] == a) {
                values[i] = value;
                return false;
            }
            i = (i + 1) & mask;
        }
        addresses[i] = a;
        ports[i] = p;
        values[i] = value;
        size++;
        return true;
    }

    private int slot(int client, int clientPort, int local) {
        long a = addressKey(client, local);
        int p = clientPort + 1;
        for (int i = hash(a, p) & mask; ; i = (i + 1) & mask) {
            if (ports[i] == 0) {
                return -1;
            }
            if (ports[i] == p && addresses[i] == a) {
                return i;
            }
        }
    }

    public boolean remove(int client, int clientPort, int local) {
        long a = addressKey(client, local);
        int p = clientPort + 1;
        int i = hash(a, p) & mask;
        while (ports[i] != 0) {
            if (ports[i] == p && addresses[i] == a) {
                deleteAt(i);
                size--;
                return true;
            }
            i = (i + 1) & mask;
        }
        return false;
    }

    private void deleteAt(int hole) {
        int i = hole;
        for (int j = (i + 1) & mask; ports[j] != 0; j = (j + 1) & mask) {
            int home = hash(addresses[j], ports[j]) & mask;
            // Move j back into the hole if its home slot does not lie cyclically in (i, j].
            boolean between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!between) {
                addresses[i] = addresses[j];
                ports[i] = ports[j];
                values[i] = values[j];
                i = j;
            }
        }
        addresses[i] = EMPTY;
        ports[i] = 0;
        values[i] = 0;
    }

    private void grow() {
        long[] oldA = addresses;
        int[] oldP = ports;
        long[] oldV = values;
        addresses = new long[oldA.length * 2];
        ports = new int[oldP.length * 2];
        values = new long[oldV.length * 2];
        mask = addresses.length - 1;
        size = 0;
        for (int i = 0; i < oldA.length; i++) {
            if (oldP[i] != 0) {
                long a = oldA[i];
                put((int) (a >>> 32), oldP[i] - 1, (int) a, oldV[i]);
            }
        }
    }
}
