package io.synproxy.handoff;

import io.synproxy.handshake.AckVerdict;
import io.synproxy.linux.LinuxException;

import java.lang.foreign.MemorySegment;

/** Builds the established socket a verified final ACK proved; {@link RepairHandoff} is the kernel's way. */
public interface Handoff {
    /**
     * Creates the socket for a verified handshake.
     *
     * @param packet the memory holding the final ACK (its payload, if any, is queued as received data)
     * @return the file descriptor of the established, non-blocking socket
     */
    int handoff(AckVerdict verdict, MemorySegment packet) throws LinuxException;

    /** The receive window, in bytes, of the socket the last {@link #handoff} built: what the window update opens. */
    int lastReceiveWindow();
}
