package io.synproxy.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static io.synproxy.linux.Constants.AF_INET;
import static io.synproxy.linux.Constants.AF_INET6;
import static io.synproxy.linux.Constants.IPPROTO_TCP;
import static io.synproxy.linux.Constants.MSG_DONTWAIT;
import static io.synproxy.linux.Constants.SOCK_CLOEXEC;
import static io.synproxy.linux.Constants.SOCK_DGRAM;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Asks this network namespace's kernel whether it holds a TCP socket for one exact tuple: one sock_diag request
 * ({@code SOCK_DIAG_BY_FAMILY} without {@code NLM_F_DUMP}, the lookup {@code ss} does for one socket) and one
 * answer, both in buffers allocated once, so a query allocates nothing.
 *
 * <p>Why the front end needs it: on one host, a socket another synproxy instance handed off lives in the same
 * kernel, but its segments may reach this instance's ring (the fanout group rehashes flows when an instance joins
 * or leaves during an upgrade). Such a segment is not ours to answer or to hand off a second time: the kernel's
 * socket takes it (the guard lets segments of existing sockets through).
 */
public final class SocketDiag implements AutoCloseable {
    private static final int AF_NETLINK = 16;
    private static final int NETLINK_SOCK_DIAG = 4;
    private static final int SOCK_DIAG_BY_FAMILY = 20;
    private static final int SOCK_DESTROY = 21;
    private static final int NLM_F_REQUEST = 1;
    private static final int NLM_F_ACK = 4;
    private static final int NLMSG_ERROR = 2;
    private static final int NLMSG_HDRLEN = 16;
    private static final int REQUEST_LENGTH = NLMSG_HDRLEN + 56;
    /** The answer to an exact lookup: inet_diag_msg and its attributes; one page holds any of them. */
    private static final int ANSWER_LENGTH = 4096;
    private static final int TCP_TIME_WAIT = 6;
    private static final int TCP_LISTEN = 10;
    private static final ValueLayout.OfInt INT_BE = JAVA_INT.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort SHORT_BE = JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong LONG_BE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** What a lookup found: no socket, a connection (any state but the two below), or a TIME_WAIT / listener. */
    public enum Found { NONE, CONNECTION, TIME_WAIT, LISTENER, UNKNOWN }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment kernel = arena.allocate(12, 4);
    private final MemorySegment request = arena.allocate(REQUEST_LENGTH, 8);
    private final MemorySegment answer = arena.allocate(ANSWER_LENGTH, 8);
    private final int fd;
    private int sequence;

    private SocketDiag(int fd) {
        this.fd = fd;
        kernel.set(JAVA_SHORT, 0, (short) AF_NETLINK);
    }

    /** Opens the netlink socket; fails where the kernel has no sock_diag (then nothing can be asked). */
    public static SocketDiag open() throws LinuxException {
        return new SocketDiag(Native.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    }

    /**
     * The TCP socket of this host for the tuple seen from this host: {@code local} is the proxy's address and
     * port, {@code remote} the client's. Addresses are 128-bit, IPv4 as {@code ::ffff:a.b.c.d}.
     * {@link Found#UNKNOWN} when the kernel did not answer as expected.
     */
    public Found lookup(long localHi, long localLo, int localPort, long remoteHi, long remoteLo, int remotePort) {
        int seq = request(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, localHi, localLo, localPort, remoteHi, remoteLo, remotePort);
        if (seq < 0) {
            return Found.UNKNOWN;
        }
        // The kernel answers inside sendto, so the answer is queued already; skip any stale one of an earlier query.
        while (true) {
            long n = Native.recv(fd, answer, ANSWER_LENGTH, MSG_DONTWAIT);
            if (n < NLMSG_HDRLEN + 4) {
                return Found.UNKNOWN;
            }
            if (answer.get(JAVA_INT, 8) != seq) {
                continue;
            }
            int type = Short.toUnsignedInt(answer.get(JAVA_SHORT, 4));
            if (type == NLMSG_ERROR) {
                // -ENOENT: no socket with that tuple; any other error leaves the question open.
                return answer.get(JAVA_INT, NLMSG_HDRLEN) == -2 ? Found.NONE : Found.UNKNOWN;
            }
            if (type != SOCK_DIAG_BY_FAMILY) {
                return Found.UNKNOWN;
            }
            int state = Byte.toUnsignedInt(answer.get(JAVA_BYTE, NLMSG_HDRLEN + 1));
            return state == TCP_LISTEN ? Found.LISTENER : state == TCP_TIME_WAIT ? Found.TIME_WAIT : Found.CONNECTION;
        }
    }

    /**
     * Removes the TIME_WAIT socket of the tuple (same arguments as {@link #lookup}), and nothing else: true if there
     * was one and the kernel destroyed it ({@code SOCK_DESTROY}, what {@code ss -K} does; it needs CAP_NET_ADMIN and
     * a kernel with CONFIG_INET_DIAG_DESTROY). A connection in any other state is left alone (false).
     *
     * <p>Why the handoff needs it: a connection the proxy closed first leaves a TIME_WAIT socket on its tuple for
     * 60 s. When the client reuses its port (a busy client, a NAT gateway), the new handshake is the proxy's, but
     * the repaired socket's {@code connect()} may take the tuple over from the TIME_WAIT only if that recorded
     * timestamps; without them it fails with EADDRNOTAVAIL.
     */
    public boolean destroyTimeWait(long localHi, long localLo, int localPort, long remoteHi, long remoteLo,
                                   int remotePort) {
        if (lookup(localHi, localLo, localPort, remoteHi, remoteLo, remotePort) != Found.TIME_WAIT) {
            return false;
        }
        int seq = request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, localHi, localLo, localPort, remoteHi, remoteLo,
                remotePort);
        if (seq < 0) {
            return false;
        }
        while (true) {
            long n = Native.recv(fd, answer, ANSWER_LENGTH, MSG_DONTWAIT);
            if (n < NLMSG_HDRLEN + 4) {
                return false;
            }
            if (answer.get(JAVA_INT, 8) != seq) {
                continue;
            }
            // The acknowledgement: NLMSG_ERROR with error 0 when the socket was destroyed.
            return Short.toUnsignedInt(answer.get(JAVA_SHORT, 4)) == NLMSG_ERROR && answer.get(JAVA_INT, NLMSG_HDRLEN) == 0;
        }
    }

    /** Sends one inet_diag_req_v2 for the exact tuple (all states); its sequence number, or -1 if it was not sent. */
    private int request(int type, int flags, long localHi, long localLo, int localPort, long remoteHi, long remoteLo,
                        int remotePort) {
        boolean v4 = localHi == 0 && (localLo >>> 32) == 0xffffL;
        int seq = ++sequence & Integer.MAX_VALUE;
        request.fill((byte) 0);
        request.set(JAVA_INT, 0, REQUEST_LENGTH);
        request.set(JAVA_SHORT, 4, (short) type);
        request.set(JAVA_SHORT, 6, (short) flags);
        request.set(JAVA_INT, 8, seq);
        // inet_diag_req_v2: family, protocol, ext, pad, states (all), then inet_diag_sockid.
        long r = NLMSG_HDRLEN;
        request.set(JAVA_BYTE, r, (byte) (v4 ? AF_INET : AF_INET6));
        request.set(JAVA_BYTE, r + 1, (byte) IPPROTO_TCP);
        request.set(JAVA_INT, r + 4, -1);
        long id = r + 8;
        request.set(SHORT_BE, id, (short) localPort);
        request.set(SHORT_BE, id + 2, (short) remotePort);
        if (v4) {
            request.set(INT_BE, id + 4, (int) localLo);
            request.set(INT_BE, id + 20, (int) remoteLo);
        } else {
            request.set(LONG_BE, id + 4, localHi);
            request.set(LONG_BE, id + 12, localLo);
            request.set(LONG_BE, id + 20, remoteHi);
            request.set(LONG_BE, id + 28, remoteLo);
        }
        // idiag_if 0, idiag_cookie INET_DIAG_NOCOOKIE: any interface, any socket.
        request.set(JAVA_INT, id + 40, -1);
        request.set(JAVA_INT, id + 44, -1);
        return Native.sendto(fd, request, REQUEST_LENGTH, 0, kernel) == REQUEST_LENGTH ? seq : -1;
    }

    @Override
    public void close() {
        Native.close(fd);
        arena.close();
    }
}
