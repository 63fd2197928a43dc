package io.synproxy.handoff;

import io.synproxy.handshake.AckVerdict;

/**
 * Where the handoff's output goes: takes an established socket built by {@link RepairHandoff}; runs on the
 * event loop that owns the ring. It lives here so that the packages read frontend -> handoff -> relay.
 */
@FunctionalInterface
public interface ConnectionSink {
    /**
     * Adopts {@code fd}. The sink must call {@code onClose.run()} exactly once, on this loop,
     * when the connection is gone, so that the tuple can be forgotten. {@code verdict} is the handshake that proved
     * the client, or null for a connected socket from elsewhere (the sink then asks the kernel for its peer).
     */
    void adopt(int fd, AckVerdict verdict, Runnable onClose);

    /**
     * {@link #adopt(int, AckVerdict, Runnable)}, with {@code beforeFirstReply} to run on this loop before the socket
     * first sends the client data when the client has sent none yet (a server that speaks first), or never: the
     * timestamp echo, which the client's own first segment makes needless; null when there is none. A sink that
     * cannot wait runs it now.
     */
    default void adopt(int fd, AckVerdict verdict, Runnable onClose, Runnable beforeFirstReply) {
        if (beforeFirstReply != null) {
            beforeFirstReply.run();
        }
        adopt(fd, verdict, onClose);
    }
}
