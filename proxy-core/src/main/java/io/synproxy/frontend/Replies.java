package io.synproxy.frontend;

import java.lang.foreign.MemorySegment;

/**
 * Where the gate's replies (cookie SYN/ACKs, window updates, RSTs) go: a whole IP packet written into
 * {@link #buffer()}, then {@link #send}. {@link RawReplies} sends each at once on raw sockets; a batching sink (a TX
 * ring) may hand out a fresh slot per {@link #buffer()} and send them all at {@link #flush()}, which the gate calls
 * at the end of every ring drain. Used on one loop thread; nothing may be allocated per reply.
 */
public interface Replies {
    /** The size of {@link #packetBuffer()}: a capture frame holds less (2 KiB frames carry payload). */
    int MAX_LOCAL_PACKET = 4096;

    /**
     * The capture frame at {@code frame} of {@code ring} (its {@code tpacket2_hdr} and {@code sockaddr_ll}) is the
     * one the next replies answer: a sink that writes link-level frames takes the link facts (interface, source MAC)
     * from it. Called before each frame goes to the gate; nothing to do for a sink that sends IP packets.
     */
    default void replyTo(MemorySegment ring, long frame) {
    }

    /** Where to write the next reply: at least {@code TcpSegmentWriter.MAX_LENGTH} bytes from offset 0. */
    MemorySegment buffer();

    /**
     * Sends {@code length} bytes of {@link #buffer()} to {@code hi:lo} (an IPv4 address in its mapped form).
     *
     * @return false when the packet was refused (counted as a failed send)
     */
    boolean send(int length, long hi, long lo);

    /**
     * Where to write a packet to one of our own addresses (the timestamp echo to a handed-off socket): it must go
     * through the host's IP stack, which loops it back, never out of an interface as a link-level frame.
     */
    default MemorySegment localBuffer() {
        return buffer();
    }

    /** Sends {@code length} bytes of {@link #localBuffer()} to our own address {@code hi:lo}. */
    default boolean sendLocal(int length, long hi, long lo) {
        return send(length, hi, lo);
    }

    /**
     * Room for a whole captured packet (payload included) to send to one of our own addresses with
     * {@link #sendLocalPacket}: at least {@link #MAX_LOCAL_PACKET} bytes, or none (empty) where this sink cannot.
     */
    default MemorySegment packetBuffer() {
        return MemorySegment.NULL;
    }

    /** Sends {@code length} bytes of {@link #packetBuffer()} to our own address {@code hi:lo}, as {@link #sendLocal}. */
    default boolean sendLocalPacket(int length, long hi, long lo) {
        return false;
    }

    /** The end of a ring drain: anything still queued goes out now. */
    default void flush() {
    }
}
