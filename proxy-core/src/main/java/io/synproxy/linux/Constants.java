package io.synproxy.linux;

/** Linux ABI numbers (x86_64 and aarch64 agree on all of these). */
public final class Constants {
    /** errno: invalid argument (for PACKET_FANOUT: a group with another mode, protocol or device). */
    public static final int EINVAL = 22;
    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    /** No such device: if_nametoindex of a name no interface has. */
    public static final int ENODEV = 19;
    /** Out of memory. */
    public static final int ENOMEM = 12;
    /** The process's descriptor table is full. */
    public static final int EMFILE = 24;
    /** The system's descriptor table is full. */
    public static final int ENFILE = 23;
    public static final int AF_PACKET = 17;

    public static final int SOCK_STREAM = 1;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_RAW = 3;
    public static final int SOCK_NONBLOCK = 0x800;
    public static final int SOCK_CLOEXEC = 0x80000;

    public static final int IPPROTO_IP = 0;
    public static final int IPPROTO_TCP = 6;
    public static final int IPPROTO_RAW = 255;
    public static final int IPPROTO_IPV6 = 41;

    public static final int SOL_SOCKET = 1;
    public static final int SO_REUSEADDR = 2;
    public static final int SO_SNDBUF = 7;
    public static final int SO_RCVBUF = 8;
    public static final int SO_LINGER = 13;
    public static final int SO_REUSEPORT = 15;
    /** asm-generic/socket.h: a BPF_PROG_TYPE_SK_REUSEPORT program for the socket's SO_REUSEPORT group. */
    public static final int SO_ATTACH_REUSEPORT_EBPF = 52;
    public static final int SO_ATTACH_FILTER = 26;
    public static final int SO_SNDBUFFORCE = 32;

    public static final int SOL_PACKET = 263;
    public static final int PACKET_RX_RING = 5;
    public static final int PACKET_STATISTICS = 6;
    public static final int PACKET_VERSION = 10;
    public static final int PACKET_FANOUT = 18;
    public static final int PACKET_TX_RING = 13;
    public static final int PACKET_LOSS = 14;
    public static final int PACKET_VNET_HDR = 15;
    public static final int PACKET_QDISC_BYPASS = 20;
    public static final int PACKET_IGNORE_OUTGOING = 23;
    public static final int TPACKET_V2 = 1;
    public static final int PACKET_FANOUT_HASH = 0;
    /** Fanout flag: a frame whose ring has no room goes to another ring of the group instead of being dropped. */
    public static final int PACKET_FANOUT_FLAG_ROLLOVER = 0x1000;

    public static final int ARPHRD_ETHER = 1;
    public static final int MSG_DONTWAIT = 0x40;
    /** More data follows: the segment waits as under TCP_CORK, for this call only. */
    public static final int MSG_MORE = 0x8000;
    public static final int MSG_NOSIGNAL = 0x4000;

    public static final int ETH_P_ALL = 0x0003;
    public static final int ETH_P_IP = 0x0800;
    public static final int ETH_P_IPV6 = 0x86DD;

    public static final int TCP_NODELAY = 1;
    public static final int TCP_MAXSEG = 2;
    public static final int TCP_REPAIR = 19;
    public static final int TCP_REPAIR_QUEUE = 20;
    public static final int TCP_QUEUE_SEQ = 21;
    /** struct tcp_info: {@code tcpi_bytes_received} is the u64 at {@link #TCP_INFO_BYTES_RECEIVED} (since 4.1). */
    public static final int TCP_INFO = 11;
    public static final int TCP_INFO_BYTES_RECEIVED = 128;
    public static final int TCP_REPAIR_OPTIONS = 22;
    public static final int TCP_TIMESTAMP = 24;
    public static final int TCP_REPAIR_WINDOW = 29;
    public static final int TCP_RECV_QUEUE = 1;
    public static final int TCP_SEND_QUEUE = 2;
    public static final int TCP_REPAIR_OFF_NO_WP = -1;

    public static final int TCPOPT_MSS = 2;
    public static final int TCPOPT_WINDOW = 3;
    public static final int TCPOPT_SACK_PERM = 4;
    public static final int TCPOPT_TIMESTAMP = 8;

    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final int MAP_LOCKED = 0x2000;

    public static final int O_CLOEXEC = 0x80000;
    public static final int O_NONBLOCK = 0x800;
    public static final int F_DUPFD_CLOEXEC = 1030;
    public static final int F_SETPIPE_SZ = 1031;
    public static final int F_GETPIPE_SZ = 1032;
    public static final int SPLICE_F_MOVE = 1;
    public static final int SPLICE_F_NONBLOCK = 2;
    public static final int SPLICE_F_MORE = 4;
    public static final int SO_ERROR = 4;
    public static final int SO_KEEPALIVE = 9;
    public static final int TCP_KEEPIDLE = 4;
    public static final int TCP_KEEPINTVL = 5;
    public static final int TCP_KEEPCNT = 6;
    public static final int SHUT_WR = 1;

    public static final int EADDRINUSE = 98;
    public static final int EADDRNOTAVAIL = 99;
    public static final int EAGAIN = 11;
    public static final int EINTR = 4;
    public static final int EINPROGRESS = 115;
    public static final int EALREADY = 114;
    public static final int EISCONN = 106;
    public static final int ECONNREFUSED = 111;
    public static final int EPIPE = 32;
    public static final int ECONNRESET = 104;
    public static final int ENOTCONN = 107;
    public static final int ETIMEDOUT = 110;
    public static final int EHOSTUNREACH = 113;
    public static final int ENOBUFS = 105;
    public static final int EPERM = 1;
    public static final int ENETDOWN = 100;
    public static final int ECONNABORTED = 103;

    private Constants() {
    }
}
