package io.synproxy.xdp;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.NoSuchElementException;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The libbpf calls the XDP fast path makes (libbpf.so.1, which iproute2 already depends on): open and load an object
 * from memory, find its program and maps, attach through a BPF link, read and write map elements, run the program on
 * a test packet. libbpf 1.x returns {@code -errno} from every call that returns an int.
 */
// With Native, the only classes that call native code; the jar's manifest enables native access.
@SuppressWarnings("restricted")
final class Libbpf {
    /** linux/bpf.h: enum bpf_attach_type. */
    static final int BPF_XDP = 37;
    static final int BPF_TCX_INGRESS = 46;

    private final MethodHandle openMem;
    private final MethodHandle load;
    private final MethodHandle close;
    private final MethodHandle findProgram;
    private final MethodHandle programFd;
    private final MethodHandle findMap;
    private final MethodHandle mapFd;
    private final MethodHandle linkCreate;
    private final MethodHandle update;
    private final MethodHandle lookup;
    private final MethodHandle delete;
    private final MethodHandle testRun;
    private final MethodHandle possibleCpus;

    private Libbpf(SymbolLookup lib) throws Throwable {
        Linker linker = Linker.nativeLinker();
        openMem = call(linker, lib, "bpf_object__open_mem", ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);
        load = call(linker, lib, "bpf_object__load", JAVA_INT, ADDRESS);
        close = linker.downcallHandle(lib.findOrThrow("bpf_object__close"), FunctionDescriptor.ofVoid(ADDRESS));
        findProgram = call(linker, lib, "bpf_object__find_program_by_name", ADDRESS, ADDRESS, ADDRESS);
        programFd = call(linker, lib, "bpf_program__fd", JAVA_INT, ADDRESS);
        findMap = call(linker, lib, "bpf_object__find_map_by_name", ADDRESS, ADDRESS, ADDRESS);
        mapFd = call(linker, lib, "bpf_map__fd", JAVA_INT, ADDRESS);
        linkCreate = call(linker, lib, "bpf_link_create", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
        update = call(linker, lib, "bpf_map_update_elem", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);
        lookup = call(linker, lib, "bpf_map_lookup_elem", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
        delete = call(linker, lib, "bpf_map_delete_elem", JAVA_INT, JAVA_INT, ADDRESS);
        testRun = call(linker, lib, "bpf_prog_test_run_opts", JAVA_INT, JAVA_INT, ADDRESS);
        possibleCpus = call(linker, lib, "libbpf_num_possible_cpus", JAVA_INT);
        // libbpf prints its own warnings to stderr unless told not to; our errors say what failed.
        MethodHandle setPrint = call(linker, lib, "libbpf_set_print", ADDRESS, ADDRESS);
        MemorySegment ignored = (MemorySegment) setPrint.invokeExact(MemorySegment.NULL);
    }

    private static MethodHandle call(Linker linker, SymbolLookup lib, String name, ValueLayout ret,
                                     ValueLayout... args) {
        return linker.downcallHandle(lib.findOrThrow(name), FunctionDescriptor.of(ret, args));
    }

    /**
     * @throws XdpException when libbpf.so.1 is not installed or lacks a call (older than 1.0)
     */
    static Libbpf open() throws XdpException {
        try {
            return new Libbpf(SymbolLookup.libraryLookup("libbpf.so.1", Arena.global()));
        } catch (IllegalArgumentException e) {
            throw new XdpException("libbpf.so.1 is not installed (Debian: apt-get install libbpf1)");
        } catch (NoSuchElementException e) {
            throw new XdpException("libbpf.so.1 is older than 1.0: " + e.getMessage());
        } catch (Throwable e) {
            throw new XdpException("cannot bind libbpf: " + e);
        }
    }

    MemorySegment openMem(MemorySegment object) {
        try {
            return (MemorySegment) openMem.invokeExact(object, object.byteSize(), MemorySegment.NULL);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    int load(MemorySegment object) {
        return invokeInt(load, object);
    }

    void close(MemorySegment object) {
        try {
            close.invokeExact(object);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    int programFd(MemorySegment object, MemorySegment name) {
        try {
            MemorySegment prog = (MemorySegment) findProgram.invokeExact(object, name);
            return prog.equals(MemorySegment.NULL) ? -1 : (int) programFd.invokeExact(prog);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    int mapFd(MemorySegment object, MemorySegment name) {
        try {
            MemorySegment map = (MemorySegment) findMap.invokeExact(object, name);
            return map.equals(MemorySegment.NULL) ? -1 : (int) mapFd.invokeExact(map);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** A BPF link of {@code prog} to the interface: detached when its descriptor is closed, or the process ends. */
    int link(int progFd, int ifindex, int attachType, int xdpFlags, Arena arena) {
        // struct bpf_link_create_opts: size_t sz; __u32 flags; then unions we leave zero.
        MemorySegment opts = arena.allocate(64, 8);
        opts.set(JAVA_LONG, 0, 16);
        opts.set(JAVA_INT, 8, xdpFlags);
        try {
            return (int) linkCreate.invokeExact(progFd, ifindex, attachType, opts);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    int update(int mapFd, MemorySegment key, MemorySegment value) {
        try {
            return (int) update.invokeExact(mapFd, key, value, 0L);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    int delete(int mapFd, MemorySegment key) {
        try {
            return (int) delete.invokeExact(mapFd, key);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    int lookup(int mapFd, MemorySegment key, MemorySegment value) {
        try {
            return (int) lookup.invokeExact(mapFd, key, value);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * BPF_PROG_TEST_RUN: runs the program once on {@code in}; the packet it leaves is copied to {@code out}, and with
     * {@code ctx} (null for none) the context it leaves (a tc program's struct __sk_buff) to {@code ctx}.
     *
     * @return the program's verdict (XDP_PASS, XDP_TX, ...) in the low 32 bits and the output length in the high 32,
     *         or a negative errno
     */
    long testRun(int progFd, MemorySegment in, MemorySegment out, MemorySegment ctx, Arena arena) {
        // struct bpf_test_run_opts (libbpf 1.x): sz, data_in, data_out, data_size_in, data_size_out, ctx_in, ctx_out,
        // ctx_size_in, ctx_size_out, retval, repeat, duration, flags, cpu, batch_size.
        MemorySegment opts = arena.allocate(80, 8);
        opts.set(JAVA_LONG, 0, 80);
        opts.set(ADDRESS, 8, in);
        opts.set(ADDRESS, 16, out);
        opts.set(JAVA_INT, 24, (int) in.byteSize());
        opts.set(JAVA_INT, 28, (int) out.byteSize());
        if (ctx != null) {
            // The same buffer in and out: the program's context as it starts (zeros) and as it ends.
            opts.set(ADDRESS, 32, ctx);
            opts.set(ADDRESS, 40, ctx);
            opts.set(JAVA_INT, 48, (int) ctx.byteSize());
            opts.set(JAVA_INT, 52, (int) ctx.byteSize());
        }
        int r;
        try {
            r = (int) testRun.invokeExact(progFd, opts);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
        if (r < 0) {
            return r;
        }
        return (long) opts.get(JAVA_INT, 28) << 32 | (opts.get(JAVA_INT, 56) & 0xffffffffL);
    }

    int possibleCpus() {
        try {
            return (int) possibleCpus.invokeExact();
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private static int invokeInt(MethodHandle h, MemorySegment a) {
        try {
            return (int) h.invokeExact(a);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }
}
