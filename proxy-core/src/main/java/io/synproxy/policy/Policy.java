package io.synproxy.policy;

import io.synproxy.config.ConfigException;
import io.synproxy.config.Operations;

import java.util.Objects;

/**
 * What the front end asks before it answers a source: the deny and allow lists, the per-source limits on proven
 * clients ({@code null} when none is set), and the global bucket of RSTs to invalid final ACKs.
 */
public record Policy(SourceAccess access, SourceLimits limits, TokenBucket invalidAckResets) {
    public Policy {
        Objects.requireNonNull(access, "access");
        Objects.requireNonNull(invalidAckResets, "invalidAckResets");
    }

    /**
     * The policy the operations options ask for, shared by every loop.
     *
     * @param connections the most live connections of all loops together
     * @param nowNanos the invalid-ACK bucket's clock now (the gate's: monotonic milliseconds in nanoseconds)
     * @throws ConfigException naming a bad CIDR or list line, or an unreadable list file
     */
    public static Policy of(Operations ops, long connections, long nowNanos) throws ConfigException {
        SourceAccess access = SourceAccess.load(ops.deny(), ops.allow(), ops.denyFiles(), ops.allowFiles());
        // A live connection belongs to one source, so twice the connection limit leaves room for sources that
        // hold no connection but have not refilled their bucket yet.
        SourceLimits limits = ops.limitsSources() ? new SourceLimits(ops.maxConnectionsPerSource(),
                ops.maxRatePerSource(), ops.sourcePrefix4(), ops.sourcePrefix6(),
                (int) Math.min(1 << 24, 2 * connections)) : null;
        long rate = ops.invalidAckRstRate();
        return new Policy(access, limits, new TokenBucket(rate, Math.max(1, rate / 10), nowNanos));
    }

    /** No list, no per-source limit, no RST to invalid final ACKs: the proxy as it was. */
    public static Policy none() {
        return new Policy(SourceAccess.open(), null, new TokenBucket(0, 1, 0));
    }
}
