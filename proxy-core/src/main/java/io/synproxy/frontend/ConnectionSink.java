package io.synproxy.frontend;

import io.synproxy.handshake.AckVerdict;

/** Takes an established socket built by the handoff; runs on the event loop that owns the ring. */
@FunctionalInterface
public interface ConnectionSink {
    /**
     * Adopts {@code fd}. The sink must call {@code onClose.run()} exactly once, on this loop,
     * when the connection is gone, so that the tuple can be forgotten.
     */
    void adopt(int fd, AckVerdict verdict, Runnable onClose);
}
