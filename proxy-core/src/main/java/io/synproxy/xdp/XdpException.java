package io.synproxy.xdp;

/** The XDP fast path cannot start here; the message says why, in one sentence. */
public final class XdpException extends Exception {
    private static final long serialVersionUID = 1L;

    public XdpException(String message) {
        super(message);
    }
}
