package io.synproxy.config;

import java.io.Serial;

/** A configuration value is wrong; the message is one sentence for the user. */
public final class ConfigException extends Exception {
    @Serial
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }
}
