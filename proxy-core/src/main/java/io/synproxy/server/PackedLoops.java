package io.synproxy.server;

import io.synproxy.relay.KernelAccept;
import io.synproxy.xdp.XdpException;
import io.synproxy.xdp.XdpFastPath;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * {@link LoopPacking} at work: every loop's listeners in the BPF program's {@code loop_listeners}, its SO_REUSEPORT
 * part attached to each listen's group, each loop thread's CPU time read every {@value LoopPacking#PERIOD_MILLIS} ms,
 * and the count of loops that take new connections written to the program. The CPU time is the thread's schedstat
 * (its time on a CPU, in ns), one descriptor per loop opened on that thread at the start and read in place: nothing
 * is opened or closed per period.
 *
 * <p>While another instance shares the listens (an upgrade in place: both instances' listeners in the same groups),
 * asked once a second, neither packs: the program's count is 0 and the kernel's hash spreads new connections over
 * both instances' loops, as without packing. Packed onto the running instance's one loop, its clients waited behind
 * the new instance's start (its JIT on the same cores): UpgradeIT's p99 over the upgrade 157 and 207 ms in 2 of 7
 * runs with the kernel's handoff, against 14 to 20 ms in the others. The new instance attaches its program only once
 * the other has gone: attached at once, it would take the groups from the running one.
 */
final class PackedLoops implements AutoCloseable {
    private static final Path OWN_SCHEDSTAT = Path.of("/proc/thread-self/schedstat");
    /** How often, in periods, whether the other instance has gone is asked while waiting for it. */
    private static final int ASK_EVERY = 4;

    private final XdpFastPath program;
    private final LoopPacking packing;
    private final FileChannel[] clocks;
    private final long[] last;
    private final double[] busy;
    private final int[] firstListeners;
    private final BooleanSupplier othersPresent;
    private final ByteBuffer text = ByteBuffer.allocate(96);
    private long lastNanos;
    private long periods;
    private boolean attachRefused;
    /** Whether another instance shares the listens (an upgrade in place), as last asked. */
    private boolean shared;
    private volatile boolean attached;
    /** The taking count the program has: 0 for the kernel's hash. */
    private volatile int written = -1;

    private PackedLoops(XdpFastPath program, FileChannel[] clocks, int[] firstListeners,
                        BooleanSupplier othersPresent) {
        this.program = program;
        this.clocks = clocks;
        this.firstListeners = firstListeners;
        this.othersPresent = othersPresent;
        this.packing = new LoopPacking(clocks.length);
        this.last = new long[clocks.length];
        this.busy = new double[clocks.length];
    }

    /**
     * Gives the program the loops' listeners (loop {@code i}'s j-th is on the config's j-th listen), lets loop 0
     * alone take new connections, and attaches the program to the listens' groups unless {@code othersPresent} says
     * another instance shares them (then {@link #tick} does once it has gone).
     *
     * @throws IOException when a loop's schedstat cannot be opened (a kernel without CONFIG_SCHED_INFO)
     */
    static PackedLoops start(XdpFastPath program, List<Loop> loops, BooleanSupplier othersPresent)
            throws XdpException, IOException {
        FileChannel[] clocks = new FileChannel[loops.size()];
        int[] first = loops.getFirst().accepts().stream().mapToInt(k -> k.fd().intValue()).toArray();
        PackedLoops packed = new PackedLoops(program, clocks, first, othersPresent);
        boolean started = false;
        try {
            for (int i = 0; i < loops.size(); i++) {
                Loop loop = loops.get(i);
                clocks[i] = loop.onLoop(() -> FileChannel.open(OWN_SCHEDSTAT));
                List<KernelAccept> accepts = loop.accepts();
                for (int j = 0; j < accepts.size(); j++) {
                    int listen = j;
                    int index = i;
                    int fd = accepts.get(j).fd().intValue();
                    program.loopListener(listen, index, fd);
                    // A loop at --max-connections resets what it is given: the program gives it nothing meanwhile.
                    loop.onLoop(() -> {
                        accepts.get(listen).whenFull(full -> room(program, listen, index, fd, full));
                        return null;
                    });
                }
            }
            for (int i = 0; i < clocks.length; i++) {
                packed.last[i] = packed.cpuNanos(i);
            }
            packed.lastNanos = System.nanoTime();
            packed.shared = othersPresent.getAsBoolean();
            if (!packed.shared) {
                packed.attach();
            }
            packed.write();
            started = true;
            return packed;
        } finally {
            if (!started) {
                // A group the program was attached to before the failure: the kernel's hash there, not loop 0 alone.
                program.activeLoops(0, loops.size());
                packed.close();
            }
        }
    }

    private static void room(XdpFastPath program, int listen, int loop, int fd, boolean full) {
        if (full) {
            program.dropLoopListener(listen, loop);
        } else {
            try {
                program.loopListener(listen, loop, fd);
            } catch (XdpException e) {
                // The listener closed meanwhile (the proxy is stopping): nothing to put back.
            }
        }
    }

    /** Whether the program picks the loops yet (not while another instance shares the listens). */
    boolean attached() {
        return attached;
    }

    /**
     * How many loops new connections go to: all of them (the kernel's hash) while another instance shares the listens
     * or until the program is attached.
     */
    int taking() {
        return written == 0 ? clocks.length : written;
    }

    /** Writes the count in force to the program: the packing's, or 0 (the kernel's hash) while shared. */
    private void write() {
        int n = shared || !attached ? 0 : packing.taking();
        if (n != written) {
            written = n;
            program.activeLoops(n, clocks.length);
        }
    }

    private void attach() throws XdpException {
        for (int fd : firstListeners) {
            program.pickLoopsFor(fd);
        }
        attached = true;
    }

    /** One period: each loop's share of a core since the last, and the count that follows from it. */
    void tick() {
        long now = System.nanoTime();
        long elapsed = Math.max(1, now - lastNanos);
        lastNanos = now;
        try {
            for (int i = 0; i < clocks.length; i++) {
                long cpu = cpuNanos(i);
                busy[i] = (double) (cpu - last[i]) / elapsed;
                last[i] = cpu;
            }
        } catch (IOException e) {
            // A loop thread gone (the proxy is stopping): nothing to decide.
            return;
        }
        packing.next(busy);
        if (++periods % ASK_EVERY == 0) {
            shared = othersPresent.getAsBoolean();
        }
        if (!shared && !attached && !attachRefused) {
            try {
                attach();
            } catch (XdpException e) {
                // The same call the start makes where no instance runs: not expected. The gauge then says all loops
                // take connections, as the kernel's hash gives them.
                attachRefused = true;
            }
        }
        write();
    }

    /** Loop {@code i}'s time on a CPU so far, in ns: the first field of its schedstat. */
    private long cpuNanos(int i) throws IOException {
        text.clear();
        clocks[i].read(text, 0);
        long v = 0;
        for (int p = 0; p < text.position(); p++) {
            byte b = text.get(p);
            if (b < '0' || b > '9') {
                if (p == 0) {
                    throw new IOException("schedstat: " + new String(text.array(), 0, text.position(),
                            StandardCharsets.US_ASCII));
                }
                break;
            }
            v = v * 10 + (b - '0');
        }
        return v;
    }

    @Override
    public void close() {
        for (FileChannel c : clocks) {
            if (c != null) {
                try {
                    c.close();
                } catch (IOException e) {
                    // Closing a read-only proc file: nothing lost.
                }
            }
        }
    }
}
