package io.synproxy.frontend;

import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static io.synproxy.linux.Constants.AF_INET;
import static io.synproxy.linux.Constants.IPPROTO_RAW;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOCK_RAW;
import static io.synproxy.linux.Constants.SOL_SOCKET;
import static io.synproxy.linux.Constants.SO_SNDBUFFORCE;

/**
 * Sends whole IPv4 packets we built (IPPROTO_RAW implies IP_HDRINCL: our source address, so
 * a 0.0.0.0 listener answers from the address each SYN was sent to). The packet buffer and the
 * destination sockaddr are preallocated; a send allocates nothing.
 */
public final class RawSender implements AutoCloseable {
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(64, 8);
    private final MemorySegment destination = SockAddr.allocateIn(arena);

    public RawSender() throws LinuxException {
        fd = Native.socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
        try {
            Native.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20, "SO_SNDBUFFORCE");
        } catch (LinuxException e) {
            Native.close(fd);
            throw e;
        }
    }

    /** The preallocated packet buffer to write the next packet into. */
    public MemorySegment buffer() {
        return buffer;
    }

    /** Sends {@code length} bytes of {@link #buffer()} to {@code address}; returns false if the kernel refused. */
    public boolean send(int length, int address) {
        SockAddr.in(destination, address, 0);
        return Native.sendto(fd, buffer, length, 0, destination) == length;
    }

    @Override
    public void close() {
        Native.close(fd);
        arena.close();
    }
}
