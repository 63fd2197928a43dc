package io.synproxy.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The libc calls synproxy makes, bound once through FFM with errno captured.
 *
 * <p>Setup calls throw {@link LinuxException}; the per-packet call ({@link #sendto}) returns
 * {@code -errno} instead so the receive loop never allocates an exception.
 * The errno capture buffer is per thread and allocated once, so no call allocates.
 */
// This class is the one place that calls native code; the jar's manifest enables native access for it.
@SuppressWarnings("restricted")
public final class Native {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(
            PathElement.groupElement("errno"));
    private static final ThreadLocal<MemorySegment> CAPTURE =
            ThreadLocal.withInitial(() -> Arena.global().allocate(CAPTURE_LAYOUT));

    private static final MethodHandle SOCKET = errnoCall("socket", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle SETSOCKOPT =
            errnoCall("setsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle GETSOCKOPT =
            errnoCall("getsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle BIND = errnoCall("bind", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle CONNECT = errnoCall("connect", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle CLOSE = errnoCall("close", JAVA_INT, JAVA_INT);
    private static final MethodHandle SEND = errnoCall("send", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle RECV = errnoCall("recv", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle SENDTO =
            errnoCall("sendto", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle MMAP =
            errnoCall("mmap", ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG);
    private static final MethodHandle MUNMAP = errnoCall("munmap", JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle IF_NAMETOINDEX = errnoCall("if_nametoindex", JAVA_INT, ADDRESS);
    private static final MethodHandle STRERROR = plainCall("strerror", ADDRESS, JAVA_INT);
    private static final MethodHandle SHUTDOWN = errnoCall("shutdown", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle LISTEN = errnoCall("listen", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle ACCEPT4 = errnoCall("accept4", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);
    private static final MethodHandle PIPE2 = errnoCall("pipe2", JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle SPLICE =
            errnoCall("splice", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final long SYS_IO_URING_SETUP = 425;
    private static final long SYS_IO_URING_ENTER = 426;
    private static final long SYS_IO_URING_REGISTER = 427;
    private static final MethodHandle IO_URING_SETUP = syscall(JAVA_INT, ADDRESS);
    private static final MethodHandle IO_URING_ENTER = syscall(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle IO_URING_REGISTER = syscall(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle FCNTL = LINKER.downcallHandle(LIBC.findOrThrow("fcntl"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
    private static final MethodHandle IOCTL = LINKER.downcallHandle(LIBC.findOrThrow("ioctl"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS),
            Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
    private static final long SIOCGIFFLAGS = 0x8913;
    private static final long SIOCGIFINDEX = 0x8933;
    /** struct ifreq: the name (IFNAMSIZ, 16 bytes), then a union of 24. */
    private static final int IFREQ_SIZE = 40;
    private static final int IFNAMSIZ = 16;

    private Native() {
    }

    private static MethodHandle errnoCall(String name, ValueLayout ret, ValueLayout... args) {
        return LINKER.downcallHandle(LIBC.findOrThrow(name), FunctionDescriptor.of(ret, args),
                Linker.Option.captureCallState("errno"));
    }

    /** syscall(2) with these arguments after the number: glibc has no io_uring wrappers. */
    private static MethodHandle syscall(ValueLayout... args) {
        ValueLayout[] all = new ValueLayout[args.length + 1];
        all[0] = JAVA_LONG;
        System.arraycopy(args, 0, all, 1, args.length);
        return LINKER.downcallHandle(LIBC.findOrThrow("syscall"), FunctionDescriptor.of(JAVA_LONG, all),
                Linker.Option.firstVariadicArg(1), Linker.Option.captureCallState("errno"));
    }

    private static MethodHandle plainCall(String name, ValueLayout ret, ValueLayout... args) {
        return LINKER.downcallHandle(LIBC.findOrThrow(name), FunctionDescriptor.of(ret, args));
    }

    private static int errno(MemorySegment capture) {
        return (int) ERRNO.get(capture, 0L);
    }

    /** The kernel's text for an errno, e.g. "Operation not permitted". */
    public static String strerror(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    public static int socket(int domain, int type, int protocol) throws LinuxException {
        MemorySegment capture = CAPTURE.get();
        int fd;
        try {
            fd = (int) SOCKET.invokeExact(capture, domain, type, protocol);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (fd < 0) {
            throw new LinuxException("socket", errno(capture));
        }
        return fd;
    }

    public static void setsockopt(int fd, int level, int option, MemorySegment value, String what)
            throws LinuxException {
        MemorySegment capture = CAPTURE.get();
        int rc;
        try {
            rc = (int) SETSOCKOPT.invokeExact(capture, fd, level, option, value, (int) value.byteSize());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc < 0) {
            throw new LinuxException("setsockopt(" + what + ")", errno(capture));
        }
    }

    /** setsockopt with an int value, through a per-thread scratch int: no allocation. */
    public static void setsockopt(int fd, int level, int option, int value, String what) throws LinuxException {
        MemorySegment scratch = Scratch.INT.get();
        scratch.set(JAVA_INT, 0, value);
        setsockopt(fd, level, option, scratch, what);
    }

    /** getsockopt into {@code out}; returns the length the kernel wrote. */
    public static int getsockopt(int fd, int level, int option, MemorySegment out, String what)
            throws LinuxException {
        MemorySegment capture = CAPTURE.get();
        MemorySegment len = Scratch.LEN.get();
        len.set(JAVA_INT, 0, (int) out.byteSize());
        int rc;
        try {
            rc = (int) GETSOCKOPT.invokeExact(capture, fd, level, option, out, len);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc < 0) {
            throw new LinuxException("getsockopt(" + what + ")", errno(capture));
        }
        return len.get(JAVA_INT, 0);
    }

    public static void bind(int fd, MemorySegment sockaddr) throws LinuxException {
        MemorySegment capture = CAPTURE.get();
        int rc;
        try {
            rc = (int) BIND.invokeExact(capture, fd, sockaddr, (int) sockaddr.byteSize());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc < 0) {
            throw new LinuxException("bind", errno(capture));
        }
    }

    public static void connect(int fd, MemorySegment sockaddr) throws LinuxException {
        int rc = connectNow(fd, sockaddr);
        if (rc < 0) {
            throw new LinuxException("connect", -rc);
        }
    }

    /** connect(2) of a non-blocking socket: 0, or {@code -errno} (EINPROGRESS and the like). Never throws. */
    public static int connectNow(int fd, MemorySegment sockaddr) {
        MemorySegment capture = CAPTURE.get();
        int rc;
        try {
            rc = (int) CONNECT.invokeExact(capture, fd, sockaddr, (int) sockaddr.byteSize());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : rc;
    }

    /** The socket's pending error (getsockopt SO_ERROR, which clears it): an errno, 0 for none. Never throws. */
    public static int soError(int fd) {
        MemorySegment scratch = Scratch.INT.get();
        scratch.set(JAVA_INT, 0, 0);
        try {
            getsockopt(fd, Constants.SOL_SOCKET, Constants.SO_ERROR, scratch, "SO_ERROR");
        } catch (LinuxException e) {
            return e.errno();
        }
        return scratch.get(JAVA_INT, 0);
    }

    /** Closes a descriptor; errors are ignored (there is nothing a caller could do about them). */
    public static void close(int fd) {
        if (fd < 0) {
            return;
        }
        try {
            int ignored = (int) CLOSE.invokeExact(CAPTURE.get(), fd);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static long send(int fd, MemorySegment buf, long len, int flags) throws LinuxException {
        MemorySegment capture = CAPTURE.get();
        long rc;
        try {
            rc = (long) SEND.invokeExact(capture, fd, buf, len, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc < 0) {
            throw new LinuxException("send", errno(capture));
        }
        return rc;
    }

    /**
     * Hot path for a packet mmap TX ring: {@code send(fd, NULL, 0, flags)} makes the kernel transmit every frame
     * marked for sending. Returns bytes sent, or {@code -errno}. Never throws, never allocates.
     */
    public static long flushTxRing(int fd, int flags) {
        return sendNow(fd, MemorySegment.NULL, 0L, flags);
    }

    /** send(2) of {@code len} bytes at {@code buf}: bytes sent, or {@code -errno}. Never throws, never allocates. */
    public static long sendNow(int fd, MemorySegment buf, long len, int flags) {
        MemorySegment capture = CAPTURE.get();
        long rc;
        try {
            rc = (long) SEND.invokeExact(capture, fd, buf, len, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : rc;
    }

    /** Hot path: returns bytes sent, or {@code -errno}. Never throws, never allocates. */
    public static long sendto(int fd, MemorySegment buf, long len, int flags, MemorySegment sockaddr) {
        MemorySegment capture = CAPTURE.get();
        long rc;
        try {
            rc = (long) SENDTO.invokeExact(capture, fd, buf, len, flags, sockaddr, (int) sockaddr.byteSize());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : rc;
    }

    /** recv(2) into {@code buf}: bytes received, or {@code -errno}. Never throws, never allocates. */
    public static long recv(int fd, MemorySegment buf, long len, int flags) {
        MemorySegment capture = CAPTURE.get();
        long rc;
        try {
            rc = (long) RECV.invokeExact(capture, fd, buf, len, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : rc;
    }

    public static MemorySegment mmap(long length, int prot, int flags, int fd) throws LinuxException {
        return mmap(length, prot, flags, fd, 0L);
    }

    /** mmap of {@code fd} from {@code offset} (an io_uring's rings sit at fixed offsets). */
    public static MemorySegment mmap(long length, int prot, int flags, int fd, long offset) throws LinuxException {
        MemorySegment capture = CAPTURE.get();
        MemorySegment addr;
        try {
            addr = (MemorySegment) MMAP.invokeExact(capture, MemorySegment.NULL, length, prot, flags, fd, offset);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (addr.address() == -1L) {
            throw new LinuxException("mmap", errno(capture));
        }
        return addr.reinterpret(length);
    }

    /** io_uring_setup(2): the ring's descriptor; {@code params} is filled in. */
    public static int ioUringSetup(int entries, MemorySegment params) throws LinuxException {
        MemorySegment capture = CAPTURE.get();
        long rc;
        try {
            rc = (long) IO_URING_SETUP.invokeExact(capture, SYS_IO_URING_SETUP, entries, params);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc < 0) {
            throw new LinuxException("io_uring_setup", errno(capture));
        }
        return (int) rc;
    }

    /** io_uring_enter(2) without a signal mask: how many entries were submitted, or {@code -errno}. */
    public static int ioUringEnter(int fd, int toSubmit, int minComplete, int flags) {
        MemorySegment capture = CAPTURE.get();
        long rc;
        try {
            rc = (long) IO_URING_ENTER.invokeExact(capture, SYS_IO_URING_ENTER, fd, toSubmit, minComplete, flags,
                    MemorySegment.NULL, 0L);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : (int) rc;
    }

    /** io_uring_register(2). */
    public static void ioUringRegister(int fd, int opcode, MemorySegment arg, int nrArgs) throws LinuxException {
        MemorySegment capture = CAPTURE.get();
        long rc;
        try {
            rc = (long) IO_URING_REGISTER.invokeExact(capture, SYS_IO_URING_REGISTER, fd, opcode, arg, nrArgs);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc < 0) {
            throw new LinuxException("io_uring_register", errno(capture));
        }
    }

    public static void munmap(MemorySegment mapping) {
        try {
            int ignored = (int) MUNMAP.invokeExact(CAPTURE.get(), mapping, mapping.byteSize());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * The interface index of {@code name}, or {@code -errno} when it cannot be had: ENODEV when no such interface
     * exists, anything else (EMFILE: glibc opens a socket to ask) when the question could not be put.
     */
    public static int interfaceIndex(String name) {
        MemorySegment capture = CAPTURE.get();
        int index;
        try (Arena arena = Arena.ofConfined()) {
            index = (int) IF_NAMETOINDEX.invokeExact(capture, arena.allocateFrom(name));
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return index != 0 ? index : -errno(capture);
    }

    /**
     * The interface index of {@code name} asked on {@code fd}, any socket (SIOCGIFINDEX), or {@code -errno}: ENODEV
     * when no such interface exists. What if_nametoindex answers, without the socket it opens for every question.
     */
    public static int interfaceIndex(int fd, String name) {
        return ifreq(fd, SIOCGIFINDEX, name, true);
    }

    /** The flags of interface {@code name} (SIOCGIFFLAGS: IFF_UP is bit 0) asked on {@code fd}, or {@code -errno}. */
    public static int interfaceFlags(int fd, String name) {
        return ifreq(fd, SIOCGIFFLAGS, name, false);
    }

    private static int ifreq(int fd, long request, String name, boolean intResult) {
        byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
        if (bytes.length >= IFNAMSIZ) {
            return -Constants.ENODEV;
        }
        MemorySegment capture = CAPTURE.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment req = arena.allocate(IFREQ_SIZE);
            MemorySegment.copy(bytes, 0, req, JAVA_BYTE, 0, bytes.length);
            int rc = (int) IOCTL.invokeExact(capture, fd, request, req);
            if (rc < 0) {
                return -errno(capture);
            }
            return intResult ? req.get(JAVA_INT, IFNAMSIZ) : Short.toUnsignedInt(req.get(JAVA_SHORT, IFNAMSIZ));
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** A non-blocking, close-on-exec pipe: {read end, write end}. */
    public static int[] pipe() throws LinuxException {
        MemorySegment capture = CAPTURE.get();
        MemorySegment fds = Scratch.PAIR.get();
        int rc;
        try {
            rc = (int) PIPE2.invokeExact(capture, fds, Constants.O_NONBLOCK | Constants.O_CLOEXEC);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        if (rc < 0) {
            throw new LinuxException("pipe2", errno(capture));
        }
        return new int[] {fds.get(JAVA_INT, 0), fds.get(JAVA_INT, 4)};
    }

    /**
     * Hot path: splice(2) of up to {@code len} bytes from {@code in} to {@code out} (one of them a pipe) with
     * {@code flags}; returns the bytes moved (0: end of input), or {@code -errno}. Never throws, never allocates.
     */
    public static long splice(int in, int out, long len, int flags) {
        MemorySegment capture = CAPTURE.get();
        long rc;
        try {
            rc = (long) SPLICE.invokeExact(capture, in, MemorySegment.NULL, out, MemorySegment.NULL, len, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : rc;
    }

    /** shutdown(2) of {@code fd} ({@code how}: SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2); 0 or {@code -errno}, never throws. */
    public static int shutdown(int fd, int how) {
        MemorySegment capture = CAPTURE.get();
        int rc;
        try {
            rc = (int) SHUTDOWN.invokeExact(capture, fd, how);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : rc;
    }

    /** listen(2): 0 or {@code -errno}. Never throws. */
    public static int listen(int fd, int backlog) {
        MemorySegment capture = CAPTURE.get();
        int rc;
        try {
            rc = (int) LISTEN.invokeExact(capture, fd, backlog);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : rc;
    }

    /**
     * accept4(2): the new descriptor, or {@code -errno} (EAGAIN when none waits). {@code addr} gets the peer's
     * sockaddr, and {@code addrLen} (an int) must hold {@code addr}'s size on the call; both NULL for no address.
     */
    public static int accept4(int fd, int flags, MemorySegment addr, MemorySegment addrLen) {
        MemorySegment capture = CAPTURE.get();
        int rc;
        try {
            rc = (int) ACCEPT4.invokeExact(capture, fd, addr, addrLen, flags);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : rc;
    }

    /** F_SETPIPE_SZ: asks for a pipe of at least {@code bytes}; the capacity it got, or {@code -errno}. Never throws. */
    public static int setPipeSize(int fd, int bytes) {
        return fcntl(fd, Constants.F_SETPIPE_SZ, bytes);
    }

    /** F_GETPIPE_SZ: the pipe's capacity, or {@code -errno}. Never throws. */
    public static int pipeSize(int fd) {
        return fcntl(fd, Constants.F_GETPIPE_SZ, 0);
    }

    /** A close-on-exec duplicate of {@code fd}: the same open socket under a second number. */
    public static int dup(int fd) throws LinuxException {
        int rc = fcntl(fd, Constants.F_DUPFD_CLOEXEC, 0);
        if (rc < 0) {
            throw new LinuxException("fcntl(F_DUPFD_CLOEXEC)", -rc);
        }
        return rc;
    }

    /** fcntl(2) with an int argument: its result, or {@code -errno}. */
    static int fcntl(int fd, int cmd, int arg) {
        MemorySegment capture = CAPTURE.get();
        int rc;
        try {
            rc = (int) FCNTL.invokeExact(capture, fd, cmd, arg);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        return rc < 0 ? -errno(capture) : rc;
    }

    private static final class Scratch {
        static final ThreadLocal<MemorySegment> PAIR =
                ThreadLocal.withInitial(() -> Arena.global().allocate(JAVA_INT, 2));
        static final ThreadLocal<MemorySegment> INT = ThreadLocal.withInitial(() -> Arena.global().allocate(JAVA_INT));
        static final ThreadLocal<MemorySegment> LEN = ThreadLocal.withInitial(() -> Arena.global().allocate(JAVA_INT));
    }
}
