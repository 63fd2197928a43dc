package io.synproxy.linux;

import java.io.IOException;
import java.io.Serial;

/** A failed Linux call: the call's name, its errno and the kernel's text for it. */
public final class LinuxException extends IOException {
    @Serial
    private static final long serialVersionUID = 1L;

    private final int errno;

    public LinuxException(String call, int errno) {
        super(call + " failed: " + Native.strerror(errno) + " (errno " + errno + ")");
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
