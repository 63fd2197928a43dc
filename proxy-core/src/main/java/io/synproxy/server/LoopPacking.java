package io.synproxy.server;

/**
 * {@code --pack-loops}, with the kernel's handoff: how many event loops take new connections. They go to as few loops
 * as carry them; when the busiest of those was busy more than {@value #SPREAD_ABOVE} of a core over a period, the
 * count doubles, and it comes down by one once all loops together could have been carried by one loop fewer at half
 * that for {@value #QUIET_PERIODS} periods in a row.
 *
 * <p>Why: on a host whose cores the proxy shares (a sidecar beside its backend, the 2-core bench host with its
 * clients and nginx), each loop that has work is one more thread to be preempted. Measured there with the same jar
 * (README "One loop or two on a 2-core host"): one loop served a keep-alive request for 0.83x the CPU of two and
 * 1.16x the requests a second, preempted 0.25 times a request against 0.41, while new connections a second were the
 * same. Where the cores have room (the two-namespace rig with a backend that does nothing but answer), two loops
 * served about 1.3x the keep-alive requests of one, at the same CPU per request: packing trades that for the CPU.
 * A connection stays on the loop it came to: a loop that joins later takes new ones only, and one that no
 * longer takes any keeps serving its own until they close. The program picks among the taking loops at random
 * ({@code loop_listeners} in the BPF program); this class only counts.
 */
final class LoopPacking {
    /** The share of a core past which a taking loop is busy enough for more loops to take connections. */
    static final double SPREAD_ABOVE = 0.5;
    /** How often the loops' CPU time is read and the count reconsidered. */
    static final long PERIOD_MILLIS = 250;
    /** Quiet periods before a loop stops taking new connections: a pause between bursts does not undo a spread. */
    static final int QUIET_PERIODS = 2;

    private final int loops;
    private int taking = 1;
    private int quiet;

    LoopPacking(int loops) {
        if (loops < 1) {
            throw new IllegalArgumentException("no loops");
        }
        this.loops = loops;
    }

    /** How many loops take new connections now. */
    int taking() {
        return taking;
    }

    /**
     * After one period in which loop {@code i} was busy {@code busy[i]} of a core (1.0: all of it): how many loops
     * take new connections from now on, loops 0 to the result less one.
     */
    int next(double[] busy) {
        if (busy.length != loops) {
            throw new IllegalArgumentException(busy.length + " loads for " + loops + " loops");
        }
        double busiest = 0;
        double total = 0;
        for (int i = 0; i < loops; i++) {
            total += busy[i];
            if (i < taking) {
                busiest = Math.max(busiest, busy[i]);
            }
        }
        if (busiest > SPREAD_ABOVE && taking < loops) {
            taking = Math.min(loops, 2 * taking);
            quiet = 0;
        } else if (taking > 1 && total < SPREAD_ABOVE / 2 * (taking - 1)) {
            if (++quiet >= QUIET_PERIODS) {
                taking--;
                quiet = 0;
            }
        } else {
            quiet = 0;
        }
        return taking;
    }
}
