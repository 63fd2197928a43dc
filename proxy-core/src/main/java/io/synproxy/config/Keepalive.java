package io.synproxy.config;

import java.time.Duration;

/**
 * TCP keepalive on both legs of a relayed connection (the client's handed-off socket and the
 * backend socket): the first probe after {@code idle} without traffic, then one every
 * {@code interval}, and the connection is dropped after {@code count} unanswered probes.
 * The kernel counts in whole seconds (TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
 */
public record Keepalive(Duration idle, Duration interval, int count) {
    /** Linux's own limits for TCP_KEEPIDLE/TCP_KEEPINTVL (MAX_TCP_KEEPIDLE) and TCP_KEEPCNT (MAX_TCP_KEEPCNT). */
    static final long MAX_SECONDS = 32767;
    static final int MAX_COUNT = 127;

    public int idleSeconds() {
        return (int) idle.toSeconds();
    }

    public int intervalSeconds() {
        return (int) interval.toSeconds();
    }

    void validate() throws ConfigException {
        for (Duration d : new Duration[] {idle, interval}) {
            if (d.toSeconds() < 1 || d.toSeconds() > MAX_SECONDS || d.toMillis() % 1000 != 0) {
                throw new ConfigException("--keepalive times must be whole seconds between 1s and " + MAX_SECONDS + "s");
            }
        }
        if (count < 1 || count > MAX_COUNT) {
            throw new ConfigException("--keepalive probe count must be between 1 and " + MAX_COUNT);
        }
    }

    @Override
    public String toString() {
        return idleSeconds() + "s," + intervalSeconds() + "s," + count;
    }
}
