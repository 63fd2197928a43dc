package io.synproxy.relay;

import java.util.Locale;

/**
 * How the relay moves bytes: {@link #AUTO} copies small exchanges through Netty buffers and switches a
 * direction to splice(2) once its reads keep filling their buffers (a bulk stream, HAProxy's splice-auto);
 * {@link #SPLICE} splices from the first byte and {@link #COPY} never does (both for tests and diagnosis).
 */
public enum RelayMode {
    AUTO, SPLICE, COPY;

    /** The system property that forces a mode ({@code -Dsynproxy.relay.mode=copy}). */
    public static final String PROPERTY = "synproxy.relay.mode";

    /**
     * The mode named by {@code text} (any case); null or empty is {@link #AUTO}.
     *
     * @throws IllegalArgumentException with one sentence naming the valid modes
     */
    public static RelayMode parse(String text) {
        if (text == null || text.isBlank()) {
            return AUTO;
        }
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(PROPERTY + " must be auto, splice or copy, not '" + text + "'", e);
        }
    }
}
