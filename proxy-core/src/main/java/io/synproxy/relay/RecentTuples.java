package io.synproxy.relay;

/**
 * The last few client address and port pairs a loop refused, each for {@link #WINDOW_NANOS}: enough to know the
 * segment in flight behind a refused final ACK (see {@link KernelAccept}), nothing per source. A fixed ring, no
 * allocation; one loop's, not thread-safe.
 */
final class RecentTuples {
    /** Entries kept: refusals come one per accepted connection, and the segment behind one comes within an RTT. */
    static final int SIZE = 16;
    /** How long a refusal is remembered: a round trip and a retransmission of the client's first data. */
    static final long WINDOW_NANOS = 1_000_000_000L;

    private final long[] hi = new long[SIZE];
    private final long[] lo = new long[SIZE];
    private final int[] port = new int[SIZE];
    private final long[] at = new long[SIZE];
    private int next;
    private int size;

    void add(long addressHi, long addressLo, int clientPort, long nowNanos) {
        hi[next] = addressHi;
        lo[next] = addressLo;
        port[next] = clientPort;
        at[next] = nowNanos;
        next = (next + 1) % SIZE;
        size = Math.min(size + 1, SIZE);
    }

    /**
     * True when the tuple is here and younger than the window; its window then starts again, so a client that keeps
     * retransmitting (it never saw the RST) stays known.
     */
    boolean seenAgain(long addressHi, long addressLo, int clientPort, long nowNanos) {
        for (int i = 0; i < size; i++) {
            if (port[i] == clientPort && lo[i] == addressLo && hi[i] == addressHi && nowNanos - at[i] < WINDOW_NANOS) {
                at[i] = nowNanos;
                return true;
            }
        }
        return false;
    }
}
