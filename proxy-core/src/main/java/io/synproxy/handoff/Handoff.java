package io.synproxy.handoff;

import io.synproxy.handshake.AckVerdict;
import io.synproxy.linux.LinuxException;
import io.synproxy.packet.TcpSegment;

import java.lang.foreign.MemorySegment;

/** Builds the established socket a verified final ACK proved; {@link RepairHandoff} is the kernel's way. */
public interface Handoff {
    /**
     * Creates the socket for a verified handshake.
     *
     * @param packet the memory holding the final ACK (its payload, if any, is queued as received data)
     * @return the file descriptor of the established, non-blocking socket, TCP_NODELAY already on
     */
    int handoff(AckVerdict verdict, MemorySegment packet) throws LinuxException;

    /** The receive window, in bytes, of the socket the last {@link #handoff} built: what the window update opens. */
    int lastReceiveWindow();

    /**
     * The bytes socket {@code fd} (one {@link #handoff} built) has received in sequence ({@code tcpi_bytes_received}),
     * or -1 when it cannot be told (no kernel to ask, an error).
     */
    default long bytesReceived(int fd) {
        return -1;
    }

    /**
     * Whether this host's kernel already holds a connection (not a listener, not TIME_WAIT) for the tuple of
     * {@code segment}, a segment that reached the proxy from a client. On one host another instance's handed-off
     * sockets live in the same kernel, and their segments reach this instance's ring once the fanout group rehashes
     * flows (an instance joined or left): those are the kernel socket's, never answered with a RST. Without a kernel
     * to ask (a bench, a test double) there is none.
     */
    default boolean hostHasConnection(TcpSegment segment) {
        return false;
    }
}
