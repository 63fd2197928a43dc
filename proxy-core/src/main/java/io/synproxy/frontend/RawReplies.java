package io.synproxy.frontend;

import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static io.synproxy.linux.Constants.AF_INET;
import static io.synproxy.linux.Constants.AF_INET6;
import static io.synproxy.linux.Constants.IPPROTO_RAW;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOCK_RAW;
import static io.synproxy.linux.Constants.SOL_SOCKET;
import static io.synproxy.linux.Constants.SO_SNDBUFFORCE;

/**
 * Sends the gate's replies at once, one {@code sendto} each, on a raw socket per protected family. IPPROTO_RAW
 * implies IP_HDRINCL on AF_INET and IPV6_HDRINCL on AF_INET6: the source address is ours to choose, so a 0.0.0.0 or
 * [::] listener answers from the address each SYN was sent to. The kernel adds no checksum for us on either family
 * (IPv6 has no header checksum; the TCP checksum is the writer's). The packet buffer and the destination sockaddrs are
 * preallocated; a send allocates nothing.
 */
public final class RawReplies implements Replies, AutoCloseable {
    private static final int CLOSED = -1;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(TcpSegmentWriter.MAX_LENGTH, 8);
    private final MemorySegment packetBuffer = arena.allocate(MAX_LOCAL_PACKET, 8);
    private final MemorySegment destination4 = SockAddr.allocateIn(arena);
    private final MemorySegment destination6 = SockAddr.allocateIn6(arena);
    private int fd4 = CLOSED;
    private int fd6 = CLOSED;

    /** Opens a raw socket for each family asked for; on failure nothing stays open. */
    public RawReplies(boolean ipv4, boolean ipv6) throws LinuxException {
        try {
            if (ipv4) {
                fd4 = open(AF_INET);
            }
            if (ipv6) {
                fd6 = open(AF_INET6);
            }
        } catch (LinuxException e) {
            close();
            throw e;
        }
    }

    private static int open(int family) throws LinuxException {
        int fd = Native.socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
        try {
            Native.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20, "SO_SNDBUFFORCE");
        } catch (LinuxException e) {
            Native.close(fd);
            throw e;
        }
        return fd;
    }

    @Override
    public MemorySegment buffer() {
        return buffer;
    }

    /** Sends on the family's socket; false if the kernel refused or the family is not protected. */
    @Override
    public boolean send(int length, long hi, long lo) {
        return send(buffer, length, hi, lo);
    }

    @Override
    public MemorySegment packetBuffer() {
        return packetBuffer;
    }

    @Override
    public boolean sendLocalPacket(int length, long hi, long lo) {
        return send(packetBuffer, length, hi, lo);
    }

    private boolean send(MemorySegment from, int length, long hi, long lo) {
        if (TcpSegment.isMapped(hi, lo)) {
            SockAddr.in(destination4, (int) lo, 0);
            return fd4 != CLOSED && Native.sendto(fd4, from, length, 0, destination4) == length;
        }
        SockAddr.in6(destination6, hi, lo, 0);
        return fd6 != CLOSED && Native.sendto(fd6, from, length, 0, destination6) == length;
    }

    @Override
    public void close() {
        if (fd4 != CLOSED) {
            Native.close(fd4);
        }
        if (fd6 != CLOSED) {
            Native.close(fd6);
        }
        fd4 = CLOSED;
        fd6 = CLOSED;
        arena.close();
    }
}
