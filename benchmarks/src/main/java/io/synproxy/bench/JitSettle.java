package io.synproxy.bench;

/**
 * Runs a pass of load through a synproxy process until its JIT is done: until its C1 and C2 compiler threads took
 * less than {@link #SETTLED_SHARE} of its CPU in the last pass, at most {@link #MAX_PASSES}. A fresh JVM compiles the
 * paths a load takes in that load's first seconds, and a bench means to measure a proxy that has been running.
 */
final class JitSettle {
    /** At most this many extra warm-up passes per synproxy process. */
    static final int MAX_PASSES = 15;
    /** The JIT is taken as done when its compiler threads used less than this share of the process's CPU in a pass. */
    static final double SETTLED_SHARE = 0.05;

    private JitSettle() {
    }

    /** A pass of load. */
    @FunctionalInterface
    interface Pass {
        void run() throws Exception;
    }

    /** How many passes it took, and the JIT's share of the process's CPU in the last one. */
    record Outcome(int passes, double share) {
        boolean settled() {
            return share < SETTLED_SHARE;
        }
    }

    static Outcome run(long pid, Pass pass) throws Exception {
        double share = Double.NaN;
        int passes = 0;
        while (passes < MAX_PASSES) {
            double cpu = Probe.processCpuSeconds(pid);
            double jit = Probe.compilerCpuSeconds(pid);
            pass.run();
            passes++;
            cpu = Probe.processCpuSeconds(pid) - cpu;
            jit = Probe.compilerCpuSeconds(pid) - jit;
            share = cpu > 0 ? jit / cpu : 0;
            if (share < SETTLED_SHARE) {
                break;
            }
        }
        return new Outcome(passes, share);
    }
}
