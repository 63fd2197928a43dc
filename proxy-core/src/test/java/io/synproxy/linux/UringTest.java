package io.synproxy.linux;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.synproxy.linux.Constants.AF_INET;
import static io.synproxy.linux.Constants.IPPROTO_TCP;
import static io.synproxy.linux.Constants.SOCK_NONBLOCK;
import static io.synproxy.linux.Constants.SOCK_STREAM;
import static io.synproxy.linux.Constants.SOL_SOCKET;
import static io.synproxy.linux.Constants.SO_REUSEADDR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The io_uring chains against this host's kernel: a chain that succeeds leaves one normal descriptor with the options
 * set, one that fails stops at the failed call, and neither leaves a descriptor behind. No root needed.
 */
class UringTest {
    private static final int EBADF = 9;
    private static final int ENOPROTOOPT = 92;
    private static final int ECANCELED = 125;
    private static final int FD_CLOEXEC = 1;
    private static final int F_GETFD = 1;
    private final Arena arena = Arena.ofConfined();
    private Uring uring;
    private int before;

    private static int openDescriptors() {
        String[] fds = new File("/proc/self/fd").list();
        return fds == null ? -1 : fds.length;
    }

    @BeforeEach
    void open() {
        try {
            uring = Uring.open(32, arena.allocate(128, 8));
        } catch (LinuxException e) {
            assumeTrue(false, "no io_uring here: " + e.getMessage());
        }
        before = openDescriptors();
    }

    @AfterEach
    void close() {
        if (uring != null) {
            uring.close();
        }
        arena.close();
    }

    private MemorySegment intValue(int v) {
        MemorySegment s = arena.allocate(4, 4);
        s.set(ValueLayout.JAVA_INT, 0, v);
        return s;
    }

    @Test
    void shouldInstallTheSocketItSetUpAndEmptyTheSlot() throws LinuxException {
        uring.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        uring.setsockopt(SOL_SOCKET, SO_REUSEADDR, intValue(1));
        uring.install();
        uring.closeSlot();
        assertEquals(0, uring.submit());
        assertEquals(0, uring.result(0), "socket into the slot");
        assertEquals(0, uring.result(1), "setsockopt");
        int fd = uring.result(2);
        assertTrue(fd >= 0, "installed descriptor: " + fd);
        assertEquals(0, uring.result(3), "slot emptied");
        try {
            MemorySegment out = arena.allocate(4, 4);
            Native.getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, out, "SO_REUSEADDR");
            assertEquals(1, out.get(ValueLayout.JAVA_INT, 0), "the option set in the chain is the socket's");
            assertEquals(FD_CLOEXEC, Native.fcntl(fd, F_GETFD, 0) & FD_CLOEXEC, "close-on-exec");
            assertEquals(before + 1, openDescriptors(), "the installed descriptor only");
        } finally {
            Native.close(fd);
        }
        assertEquals(before, openDescriptors());
    }

    @Test
    void shouldStopAtTheFailedCallAndLeaveNothingOpenOnceTheSlotIsEmptied() {
        uring.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        uring.setsockopt(IPPROTO_TCP, 9999, intValue(1));
        uring.setsockopt(SOL_SOCKET, SO_REUSEADDR, intValue(1));
        uring.install();
        uring.closeSlot();
        assertEquals(0, uring.submit());
        assertEquals(0, uring.result(0));
        assertEquals(-ENOPROTOOPT, uring.result(1), "no such TCP option");
        for (int i = 2; i < 5; i++) {
            assertEquals(-ECANCELED, uring.result(i), "entry " + i + " after the failure");
        }
        uring.closeSlot();
        assertEquals(0, uring.submit());
        assertEquals(0, uring.result(0), "the slot's socket closed");
        assertEquals(before, openDescriptors());
    }

    @Test
    void shouldRunChainAfterChain() {
        for (int i = 0; i < 100; i++) {
            uring.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            uring.install();
            uring.closeSlot();
            assertEquals(0, uring.submit());
            int fd = uring.result(1);
            assertTrue(fd >= 0, "chain " + i + ": " + fd);
            Native.close(fd);
        }
        assertEquals(before, openDescriptors());
    }

    @Test
    void shouldCloseEachDescriptorEvenWhereAnotherCloseFails() throws LinuxException {
        int[] fds = new int[6];
        for (int i = 0; i < fds.length; i++) {
            fds[i] = Native.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        }
        assertEquals(before + fds.length, openDescriptors());
        uring.closeDescriptor(fds[0]);
        uring.closeDescriptor(fds[1]);
        uring.closeDescriptor(fds[1]);
        for (int i = 2; i < fds.length; i++) {
            uring.closeDescriptor(fds[i]);
        }
        assertEquals(0, uring.submit());
        assertEquals(fds.length + 1, uring.taken());
        assertEquals(-EBADF, uring.result(2), "the second close of the same descriptor");
        for (int i = 3; i < fds.length + 1; i++) {
            assertEquals(0, uring.result(i), "entry " + i + " after the failed one, not cancelled");
        }
        assertEquals(before, openDescriptors());
    }
}
