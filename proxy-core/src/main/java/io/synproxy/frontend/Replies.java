package io.synproxy.frontend;

import java.lang.foreign.MemorySegment;

/**
 * Where the gate's replies (cookie SYN/ACKs, window updates, RSTs) go: a whole IP packet written into
 * {@link #buffer()}, then {@link #send}. {@link RawReplies} sends each at once on raw sockets; a batching sink (a TX
 * ring) may hand out a fresh slot per {@link #buffer()} and send them all at {@link #flush()}, which the gate calls
 * at the end of every ring drain. Used on one loop thread; nothing may be allocated per reply.
 */
public interface Replies {
    /** Where to write the next reply: at least {@code TcpSegmentWriter.MAX_LENGTH} bytes from offset 0. */
    MemorySegment buffer();

    /**
     * Sends {@code length} bytes of {@link #buffer()} to {@code hi:lo} (an IPv4 address in its mapped form).
     *
     * @return false when the packet was refused (counted as a failed send)
     */
    boolean send(int length, long hi, long lo);

    /** The end of a ring drain: anything still queued goes out now. */
    default void flush() {
    }
}
