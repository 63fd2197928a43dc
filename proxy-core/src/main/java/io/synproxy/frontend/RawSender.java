package io.synproxy.frontend;

import static io.synproxy.linux.Constants.AF_INET;
import static io.synproxy.linux.Constants.AF_INET6;
import static io.synproxy.linux.Constants.IPPROTO_RAW;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOCK_RAW;
import static io.synproxy.linux.Constants.SOL_SOCKET;
import static io.synproxy.linux.Constants.SO_SNDBUFFORCE;

import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Sends whole IP packets we built. IPPROTO_RAW implies IP_HDRINCL on AF_INET and IPV6_HDRINCL on AF_INET6: the
 * source address is ours to choose, so a 0.0.0.0 or [::] listener answers from the address each SYN was sent to.
 * The kernel adds no checksum for us on either family (IPv6 has no header checksum; the TCP checksum is the
 * writer's). The packet buffer and the destination sockaddr are preallocated; a send allocates nothing.
 */
public final class RawSender implements AutoCloseable {
    private final int fd;
    private final boolean ipv6;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(128, 8);
    private final MemorySegment destination;

    /** An IPv4 sender. */
    public RawSender() throws LinuxException {
        this(false);
    }

    private RawSender(boolean ipv6) throws LinuxException {
        this.ipv6 = ipv6;
        this.destination = ipv6 ? SockAddr.allocateIn6(arena) : SockAddr.allocateIn(arena);
        int sock;
        try {
            sock = Native.socket(ipv6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
        } catch (LinuxException e) {
            arena.close();
            throw e;
        }
        fd = sock;
        try {
            Native.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20, "SO_SNDBUFFORCE");
        } catch (LinuxException e) {
            close();
            throw e;
        }
    }

    /** An IPv6 sender (AF_INET6, IPPROTO_RAW: the IPv6 header is ours). */
    public static RawSender ipv6() throws LinuxException {
        return new RawSender(true);
    }

    public boolean isIpv6() {
        return ipv6;
    }

    /** The preallocated packet buffer (128 bytes) to write the next packet into. */
    public MemorySegment buffer() {
        return buffer;
    }

    /** Sends {@code length} bytes of {@link #buffer()} to {@code address}; returns false if the kernel refused. */
    public boolean send(int length, int address) {
        SockAddr.in(destination, address, 0);
        return Native.sendto(fd, buffer, length, 0, destination) == length;
    }

    /** IPv6: sends {@code length} bytes of {@link #buffer()} to the address {@code hi:lo}. */
    public boolean send6(int length, long hi, long lo) {
        SockAddr.in6(destination, hi, lo, 0);
        return Native.sendto(fd, buffer, length, 0, destination) == length;
    }

    @Override
    public void close() {
        Native.close(fd);
        arena.close();
    }
}
