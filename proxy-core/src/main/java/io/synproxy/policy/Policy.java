package io.synproxy.policy;

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

    /** No list, no per-source limit, no RST to invalid final ACKs: the proxy as it was. */
    public static Policy none() {
        return new Policy(SourceAccess.open(), null, new TokenBucket(0, 1, 0));
    }
}
