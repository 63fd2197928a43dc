package io.synproxy.server;

import java.io.Serial;

/** The proxy could not start; the message is one sentence for the user. Nothing is left behind. */
public final class StartupException extends Exception {
    @Serial
    private static final long serialVersionUID = 1L;

    public StartupException(String message) {
        super(message);
    }
}
