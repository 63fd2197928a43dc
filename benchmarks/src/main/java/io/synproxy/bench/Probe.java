package io.synproxy.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads CPU time and resident memory from /proc (host-wide and per process). */
final class Probe {
    /** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on every mainstream Linux build). */
    static final double HZ = 100.0;

    private Probe() {
    }

    /** user+system CPU seconds of {@code pid} so far, or 0 if it is gone. */
    static double processCpuSeconds(long pid) {
        try {
            return cpuSeconds(Files.readString(Path.of("/proc/" + pid + "/stat")));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /**
     * The scheduler's run time so far of {@code pid}'s threads, in seconds: the sum of the first field of each
     * {@code /proc/PID/task/TID/schedstat} (nanoseconds on a CPU), or 0 if it is gone. Exact where
     * {@link #processCpuSeconds} is tick-sampled: a thread that wakes for tens of microseconds (a proxy's loop per
     * connection) is billed whole ticks whenever one lands in its run, and an idle CPU it wakes restarts its tick.
     * Threads that have ended are not counted: for long-lived servers' threads.
     */
    static double processRunSeconds(long pid) {
        long ns = 0;
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                try {
                    String line = Files.readString(task.resolve("schedstat")).trim();
                    ns += Long.parseLong(line.substring(0, line.indexOf(' ')));
                } catch (IOException | RuntimeException e) {
                    // the thread ended meanwhile
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return ns / 1e9;
    }

    /**
     * user+system CPU seconds so far of {@code pid}'s JIT compiler threads (HotSpot names them "C1 CompilerThre" and
     * "C2 CompilerThre", truncated to 15 characters); 0 for a process that has none, or is gone.
     */
    static double compilerCpuSeconds(long pid) {
        double sum = 0;
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                try {
                    String stat = Files.readString(task.resolve("stat"));
                    String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                    if (comm.startsWith("C1 Compiler") || comm.startsWith("C2 Compiler")) {
                        sum += cpuSeconds(stat);
                    }
                } catch (IOException | RuntimeException e) {
                    // the thread ended meanwhile
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return sum;
    }

    /** user+system CPU seconds of a process's or thread's {@code stat} line. */
    private static double cpuSeconds(String stat) {
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // after "pid (comm) ": state(0) ppid(1) ... utime(11) stime(12)
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / HZ;
    }

    /** VmRSS of {@code pid} in MiB, or -1 if it is gone. */
    static double rssMiB(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone
        }
        return -1;
    }

    /** Host-wide CPU seconds: {busy (everything but idle and iowait), softirq}. */
    static double[] hostCpuSeconds() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).getFirst().trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < Math.min(f.length, 9); i++) {
                total += Long.parseLong(f[i]);
            }
            long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]);
            return new double[] {(total - idle) / HZ, Long.parseLong(f[7]) / HZ};
        } catch (IOException | RuntimeException e) {
            return new double[] {0, 0};
        }
    }
}
