package io.synproxy.frontend;

/**
 * Where a capture ring's socket reports an error the kernel set on it (an errno), other than frames: {@code ENETDOWN}
 * when its interface goes down or away. Called on the ring's loop thread, once per error (reading it clears it).
 */
@FunctionalInterface
public interface RingErrors {
    /** Ignores them: a ring that is never registered (the start-up warm-up's, a test's). */
    RingErrors NONE = errno -> { };

    void ringError(int errno);
}
