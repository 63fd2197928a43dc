package io.synproxy.linux;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.synproxy.linux.Constants.MAP_SHARED;
import static io.synproxy.linux.Constants.PROT_READ;
import static io.synproxy.linux.Constants.PROT_WRITE;

/**
 * A small io_uring that runs a chain of socket calls in one system call: the handoff's sixteen calls (socket,
 * setsockopt, bind, connect) cost about 1 us each in entry and exit alone on this host's kind of virtual machine,
 * and between 2 and 4 us each on a loop that has just woken. The socket is made as a direct descriptor in the ring's
 * one fixed-file slot, so that the calls after it can name it before it exists, then installed as a normal
 * descriptor and the slot closed, all in the same chain ({@code IOSQE_IO_LINK}: a failed call cancels the rest).
 *
 * <p>Needs Linux 6.11 (socket options through {@code IORING_OP_URING_CMD} from 6.7, {@code FIXED_FD_INSTALL} from
 * 6.8, {@code BIND} from 6.11); {@link #open} fails where io_uring is missing or refused (a container's seccomp
 * profile), and an older kernel refuses the first chain. One thread at a time; entries and completions are read and
 * written by the calling thread only, in program order around the system call, so no fences are needed.
 */
public final class Uring implements AutoCloseable {
    public static final int OP_CONNECT = 16;
    public static final int OP_CLOSE = 19;
    public static final int OP_SEND = 26;
    public static final int OP_SOCKET = 45;
    public static final int OP_URING_CMD = 46;
    public static final int OP_FIXED_FD_INSTALL = 54;
    public static final int OP_BIND = 56;
    /**
     * {@code -Dsynproxy.uring=false} turns io_uring off everywhere it is used: the handoff's calls are then made one by
     * one, and the relay closes each socket with close(2).
     */
    public static final String PROPERTY = "synproxy.uring";
    /** The one fixed-file slot the chains make their socket in. */
    public static final int SLOT = 0;

    private static final int SQE_SIZE = 64;
    private static final int CQE_SIZE = 16;
    private static final int IOSQE_FIXED_FILE = 1;
    private static final int IOSQE_IO_LINK = 1 << 2;
    private static final int IORING_ENTER_GETEVENTS = 1;
    private static final int IORING_FEAT_SINGLE_MMAP = 1;
    private static final int IORING_REGISTER_FILES2 = 13;
    private static final int IORING_RSRC_REGISTER_SPARSE = 1;
    private static final int SOCKET_URING_OP_SETSOCKOPT = 3;
    private static final long IORING_OFF_SQ_RING = 0L;
    private static final long IORING_OFF_CQ_RING = 0x8000000L;
    private static final long IORING_OFF_SQES = 0x10000000L;
    private static final int MAP_POPULATE = 0x8000;
    private static final int PARAMS_SIZE = 120;
    private static final int EINTR = 4;

    private final int fd;
    private final MemorySegment sqRing;
    private final MemorySegment cqRing;
    private final MemorySegment sqes;
    private final int entries;
    private final long sqHead;
    private final long sqTail;
    private final int sqMask;
    private final long sqArray;
    private final long cqHead;
    private final long cqTail;
    private final int cqMask;
    private final long cqes;
    private final int[] results;
    private int queued;
    private int taken;

    private Uring(int fd, MemorySegment sqRing, MemorySegment cqRing, MemorySegment sqes, MemorySegment params) {
        this.fd = fd;
        this.sqRing = sqRing;
        this.cqRing = cqRing;
        this.sqes = sqes;
        this.entries = params.get(ValueLayout.JAVA_INT, 0);
        this.sqHead = Integer.toUnsignedLong(params.get(ValueLayout.JAVA_INT, 40));
        this.sqTail = Integer.toUnsignedLong(params.get(ValueLayout.JAVA_INT, 44));
        this.sqMask = sqRing.get(ValueLayout.JAVA_INT, params.get(ValueLayout.JAVA_INT, 48));
        this.sqArray = Integer.toUnsignedLong(params.get(ValueLayout.JAVA_INT, 64));
        this.cqHead = Integer.toUnsignedLong(params.get(ValueLayout.JAVA_INT, 80));
        this.cqTail = Integer.toUnsignedLong(params.get(ValueLayout.JAVA_INT, 84));
        this.cqMask = cqRing.get(ValueLayout.JAVA_INT, params.get(ValueLayout.JAVA_INT, 88));
        this.cqes = Integer.toUnsignedLong(params.get(ValueLayout.JAVA_INT, 100));
        this.results = new int[entries];
    }

    /**
     * A ring of {@code entries} submission entries (a power of two) with one sparse fixed-file slot.
     *
     * @param scratch at least {@value #PARAMS_SIZE} bytes, used during the call only
     */
    public static Uring open(int entries, MemorySegment scratch) throws LinuxException {
        MemorySegment params = scratch.asSlice(0, PARAMS_SIZE).fill((byte) 0);
        int fd = Native.ioUringSetup(entries, params);
        MemorySegment sqRing = null;
        MemorySegment cqRing = null;
        Uring ring;
        try {
            int sqEntries = params.get(ValueLayout.JAVA_INT, 0);
            int cqEntries = params.get(ValueLayout.JAVA_INT, 4);
            int features = params.get(ValueLayout.JAVA_INT, 20);
            long sqSize = Integer.toUnsignedLong(params.get(ValueLayout.JAVA_INT, 64)) + 4L * sqEntries;
            long cqSize = Integer.toUnsignedLong(params.get(ValueLayout.JAVA_INT, 100)) + (long) CQE_SIZE * cqEntries;
            int prot = PROT_READ | PROT_WRITE;
            int flags = MAP_SHARED | MAP_POPULATE;
            if ((features & IORING_FEAT_SINGLE_MMAP) != 0) {
                sqRing = Native.mmap(Math.max(sqSize, cqSize), prot, flags, fd, IORING_OFF_SQ_RING);
                cqRing = sqRing;
            } else {
                sqRing = Native.mmap(sqSize, prot, flags, fd, IORING_OFF_SQ_RING);
                cqRing = Native.mmap(cqSize, prot, flags, fd, IORING_OFF_CQ_RING);
            }
            MemorySegment sqes = Native.mmap((long) SQE_SIZE * sqEntries, prot, flags, fd, IORING_OFF_SQES);
            ring = new Uring(fd, sqRing, cqRing, sqes, params);
        } catch (LinuxException | RuntimeException e) {
            if (cqRing != null && cqRing != sqRing) {
                Native.munmap(cqRing);
            }
            if (sqRing != null) {
                Native.munmap(sqRing);
            }
            Native.close(fd);
            throw e;
        }
        // struct io_uring_rsrc_register: one sparse slot for the chains' socket.
        MemorySegment register = scratch.asSlice(0, 32).fill((byte) 0);
        register.set(ValueLayout.JAVA_INT, 0, 1);
        register.set(ValueLayout.JAVA_INT, 4, IORING_RSRC_REGISTER_SPARSE);
        try {
            Native.ioUringRegister(fd, IORING_REGISTER_FILES2, register, 32);
        } catch (LinuxException e) {
            // Once, here: the descriptor's number may name another thread's socket as soon as it is closed.
            ring.close();
            throw e;
        }
        return ring;
    }

    /** Whether io_uring is to be used at all (not turned off with {@link #PROPERTY}). */
    public static boolean wanted() {
        return Boolean.parseBoolean(System.getProperty(PROPERTY, "true"));
    }

    /** Entries queued since the last {@link #submit}. */
    public int queued() {
        return queued;
    }

    /** {@code socket(domain, type, protocol)} into {@link #SLOT} ({@code type} without SOCK_CLOEXEC). */
    public void socket(int domain, int type, int protocol) {
        long e = next(OP_SOCKET, domain);
        sqes.set(ValueLayout.JAVA_LONG, e + 8, type);
        sqes.set(ValueLayout.JAVA_INT, e + 24, protocol);
        sqes.set(ValueLayout.JAVA_INT, e + 44, SLOT + 1);
    }

    /** {@code setsockopt} on the slot's socket; {@code value} must stay as it is until {@link #submit}. */
    public void setsockopt(int level, int option, MemorySegment value) {
        long e = next(OP_URING_CMD, SLOT);
        sqes.set(ValueLayout.JAVA_BYTE, e + 1, (byte) (IOSQE_FIXED_FILE | IOSQE_IO_LINK));
        sqes.set(ValueLayout.JAVA_INT, e + 8, SOCKET_URING_OP_SETSOCKOPT);
        sqes.set(ValueLayout.JAVA_INT, e + 16, level);
        sqes.set(ValueLayout.JAVA_INT, e + 20, option);
        sqes.set(ValueLayout.JAVA_INT, e + 44, (int) value.byteSize());
        sqes.set(ValueLayout.JAVA_LONG, e + 48, value.address());
    }

    /** {@code bind} ({@link #OP_BIND}) or {@code connect} ({@link #OP_CONNECT}) of the slot's socket. */
    public void address(int op, MemorySegment sockaddr) {
        long e = next(op, SLOT);
        sqes.set(ValueLayout.JAVA_BYTE, e + 1, (byte) (IOSQE_FIXED_FILE | IOSQE_IO_LINK));
        sqes.set(ValueLayout.JAVA_LONG, e + 8, sockaddr.byteSize());
        sqes.set(ValueLayout.JAVA_LONG, e + 16, sockaddr.address());
    }

    /** {@code send} on the slot's socket. */
    public void send(MemorySegment data) {
        long e = next(OP_SEND, SLOT);
        sqes.set(ValueLayout.JAVA_BYTE, e + 1, (byte) (IOSQE_FIXED_FILE | IOSQE_IO_LINK));
        sqes.set(ValueLayout.JAVA_LONG, e + 16, data.address());
        sqes.set(ValueLayout.JAVA_INT, e + 24, (int) data.byteSize());
    }

    /** The slot's socket as a normal descriptor (close-on-exec): its completion's result is the descriptor. */
    public void install() {
        long e = next(OP_FIXED_FD_INSTALL, SLOT);
        sqes.set(ValueLayout.JAVA_BYTE, e + 1, (byte) (IOSQE_FIXED_FILE | IOSQE_IO_LINK));
    }

    /**
     * {@code close(fd)} of a normal descriptor, linked to nothing: one failed close cancels no other entry. Sockets
     * have no flush operation, so the kernel closes them inline, within the submit.
     */
    public void closeDescriptor(int fd) {
        long e = next(OP_CLOSE, fd);
        sqes.set(ValueLayout.JAVA_BYTE, e + 1, (byte) 0);
    }

    /** Entries a submit can take at most. */
    public int entries() {
        return entries;
    }

    /** Empties the slot (the installed descriptor keeps the socket); the last entry of a chain. */
    public void closeSlot() {
        long e = next(OP_CLOSE, 0);
        sqes.set(ValueLayout.JAVA_INT, e + 44, SLOT + 1);
    }

    /**
     * Submits what was queued and waits for all of it. Every entry but the last is linked to the next, so the calls
     * run in order and a failure cancels the rest ({@code -ECANCELED}).
     *
     * @return 0, or {@code -errno} of io_uring_enter itself; each entry's result is then {@link #result(int)}
     */
    public int submit() {
        int n = queued;
        queued = 0;
        if (n == 0) {
            return 0;
        }
        // The last entry ends the chain.
        long last = (long) ((tail() - 1) & sqMask) * SQE_SIZE;
        sqes.set(ValueLayout.JAVA_BYTE, last + 1, (byte) (sqes.get(ValueLayout.JAVA_BYTE, last + 1) & ~IOSQE_IO_LINK));
        int head = cqRing.get(ValueLayout.JAVA_INT, cqHead);
        int first = sqRing.get(ValueLayout.JAVA_INT, sqHead);
        int rc = Native.ioUringEnter(fd, n, n, IORING_ENTER_GETEVENTS);
        // Interrupted by a signal, the call may have taken the entries and not waited for all of them: wait for the
        // rest, submitting only what the kernel has not taken.
        while ((rc >= 0 || rc == -EINTR) && cqRing.get(ValueLayout.JAVA_INT, cqTail) - head < n) {
            int untaken = tail() - sqRing.get(ValueLayout.JAVA_INT, sqHead);
            rc = Native.ioUringEnter(fd, untaken, n - (cqRing.get(ValueLayout.JAVA_INT, cqTail) - head),
                    IORING_ENTER_GETEVENTS);
        }
        if (rc < 0 && rc != -EINTR) {
            // Nothing more will be taken from this chain: drop what the kernel did not take.
            taken = sqRing.get(ValueLayout.JAVA_INT, sqHead) - first;
            sqRing.set(ValueLayout.JAVA_INT, sqTail, sqRing.get(ValueLayout.JAVA_INT, sqHead));
            return rc;
        }
        taken = n;
        for (int i = 0; i < n; i++) {
            results[i] = Integer.MIN_VALUE;
        }
        int end = cqRing.get(ValueLayout.JAVA_INT, cqTail);
        while (head != end) {
            long c = cqes + (long) (head & cqMask) * CQE_SIZE;
            long userData = cqRing.get(ValueLayout.JAVA_LONG, c);
            if (userData >= 0 && userData < n) {
                results[(int) userData] = cqRing.get(ValueLayout.JAVA_INT, c + 8);
            }
            head++;
        }
        cqRing.set(ValueLayout.JAVA_INT, cqHead, head);
        return 0;
    }

    /** How many entries of the last {@link #submit} the kernel took, in order: all of them unless it failed. */
    public int taken() {
        return taken;
    }

    /** The result of the {@code i}-th entry of the last {@link #submit}. */
    public int result(int i) {
        return results[i];
    }

    private int tail() {
        return sqRing.get(ValueLayout.JAVA_INT, sqTail);
    }

    /** A zeroed entry at the tail, linked to the next by default, its user data its place in the chain. */
    private long next(int op, int fd) {
        if (queued == entries) {
            throw new IllegalStateException("io_uring chain longer than " + entries);
        }
        int tail = tail();
        int index = tail & sqMask;
        long e = (long) index * SQE_SIZE;
        for (long off = 0; off < SQE_SIZE; off += 8) {
            sqes.set(ValueLayout.JAVA_LONG, e + off, 0L);
        }
        sqes.set(ValueLayout.JAVA_BYTE, e, (byte) op);
        sqes.set(ValueLayout.JAVA_BYTE, e + 1, (byte) IOSQE_IO_LINK);
        sqes.set(ValueLayout.JAVA_INT, e + 4, fd);
        sqes.set(ValueLayout.JAVA_LONG, e + 32, queued);
        sqRing.set(ValueLayout.JAVA_INT, sqArray + 4L * index, index);
        sqRing.set(ValueLayout.JAVA_INT, sqTail, tail + 1);
        queued++;
        return e;
    }

    @Override
    public void close() {
        Native.munmap(sqes);
        if (cqRing != sqRing) {
            Native.munmap(cqRing);
        }
        Native.munmap(sqRing);
        Native.close(fd);
    }
}
