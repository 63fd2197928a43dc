package io.synproxy.testsupport;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

/**
 * Puts the calling platform thread into a named network namespace with setns(2), as {@code ip netns exec} does for
 * a process: the sockets the thread opens afterwards belong to that namespace. Its own three libc calls, so that
 * test-support needs no synproxy module (proxy-core's tests use it too).
 */
@SuppressWarnings("restricted")
public final class Netns {
    private static final int O_RDONLY_CLOEXEC = 0x80000;
    private static final int CLONE_NEWNET = 0x40000000;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final VarHandle ERRNO_VALUE = Linker.Option.captureStateLayout()
            .varHandle(PathElement.groupElement("errno"));
    private static final MethodHandle OPEN = downcall("open",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle SETNS = downcall("setns",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = LINKER.downcallHandle(LIBC.find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private Netns() {
    }

    /** Moves the calling platform thread into namespace {@code name} (a file in /run/netns). */
    public static void enter(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(Linker.Option.captureStateLayout());
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom("/run/netns/" + name), O_RDONLY_CLOEXEC);
            if (fd < 0) {
                throw new IllegalStateException("cannot open namespace " + name + ": errno " + errno(state));
            }
            try {
                if ((int) SETNS.invokeExact(state, fd, CLONE_NEWNET) != 0) {
                    throw new IllegalStateException("cannot enter namespace " + name + ": errno " + errno(state));
                }
            } finally {
                int ignored = (int) CLOSE.invokeExact(fd);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("setns into " + name, t);
        }
    }

    /** A platform thread (daemon) that enters {@code ns} before it runs {@code r}. */
    public static Thread thread(Runnable r, String ns) {
        Thread t = new Thread(() -> {
            enter(ns);
            r.run();
        }, "ns-" + ns);
        t.setDaemon(true);
        return t;
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO_VALUE.get(state, 0L);
    }

    private static MethodHandle downcall(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(), fd, ERRNO);
    }
}
