package io.synproxy.server;

import java.io.Serial;

/** The proxy could not start; the message is one sentence for the user. Nothing is left behind. */
public final class StartupException extends Exception {
    @Serial
    private static final long serialVersionUID = 1L;

    /** Why this host cannot have the kernel's handoff, when that is what failed; else null. */
    private final String kernelHandoffRefusal;

    public StartupException(String message) {
        this(message, null);
    }

    private StartupException(String message, String kernelHandoffRefusal) {
        super(message);
        this.kernelHandoffRefusal = kernelHandoffRefusal;
    }

    /** The kernel's handoff cannot run here for {@code reason}: {@code --handoff auto} then starts the repair one. */
    static StartupException kernelHandoffRefused(String message, String reason) {
        return new StartupException(message, reason);
    }

    /** Why the kernel's handoff cannot run on this host, or null when this is another failure. */
    String kernelHandoffRefusal() {
        return kernelHandoffRefusal;
    }
}
