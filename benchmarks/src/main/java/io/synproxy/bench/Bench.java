package io.synproxy.bench;

import io.synproxy.testsupport.Shell;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Runs the comparison (and the sweep in full mode, and the relay section), then writes every output. */
final class Bench {
    private final ScenarioRunner.Settings settings;
    private final List<Scenario> scenarios;
    private final List<Long> sweep;
    private final List<Long> floodRates;
    private final List<FloodGenerator> generators;
    private final boolean relay;
    private final int relaySeconds;
    /** How many times each comparison runs its scenarios, alternating ({@code --rounds}). */
    private final int rounds;
    /** How many times the relay section runs its tests, rotating the routes' order ({@code --relay-rounds}). */
    private final int relayRounds;
    private final Path dir;
    private final long started = System.nanoTime();
    private final StringBuilder md = new StringBuilder();

    Bench(ScenarioRunner.Settings settings, List<Scenario> scenarios, List<Long> sweep, List<Long> floodRates,
          List<FloodGenerator> generators, boolean relay, int relaySeconds, int relayRounds, int rounds, Path dir) {
        this.relaySeconds = relaySeconds;
        this.relayRounds = relayRounds;
        this.rounds = rounds;
        this.settings = settings;
        this.scenarios = scenarios;
        this.sweep = sweep;
        this.floodRates = floodRates;
        this.generators = generators;
        this.relay = relay;
        this.dir = dir;
    }

    void progress(String line) {
        System.out.printf(Locale.ROOT, "[%5.1fs] %s%n", (System.nanoTime() - started) / 1e9, line);
        System.out.flush();
    }

    int run() throws Exception {
        progress("results in " + dir.toAbsolutePath());
        md.append("# synproxy-bench results\n\n")
                .append("Run ").append(Instant.now()).append(" on ").append(Runtime.getRuntime().availableProcessors())
                .append(" CPUs, kernel ").append(System.getProperty("os.version")).append(", Java ")
                .append(Runtime.version()).append(".\n\n")
                .append(String.format(Locale.ROOT, "%.0f", settings.legitRate()))
                .append(" legitimate HTTP connections/s (open model) for ").append(settings.legitMillis() / 1000)
                .append(" s per scenario, timeout ").append(settings.timeoutMillis()).append(" ms. synproxy with ")
                .append("--handoff ").append(settings.handoff()).append(".\n\n");
        List<Measurement> all = new ArrayList<>();
        List<Integer> allRounds = new ArrayList<>();
        boolean one = generators.size() == 1 && floodRates.size() == 1;
        for (FloodGenerator generator : generators) {
            ScenarioRunner runner = new ScenarioRunner(settings.with(generator), this::progress);
            for (long floodRate : floodRates) {
                String rate = floodRate > 0 ? Report.num(floodRate) + " pps" : "maximum rate";
                String suffix = one ? "" : "-" + (floodRate > 0 ? floodRate : "max") + "-" + generator.label;
                String what = "spoofed " + settings.floodKind() + " flood at " + rate + " from " + generator.label;
                List<List<Measurement>> byRound = new ArrayList<>();
                for (int round = 1; round <= rounds; round++) {
                    byRound.add(comparisonRound(runner, floodRate, what, suffix, round, all, allRounds));
                }
                if (rounds > 1) {
                    Table medians = Report.medians(byRound);
                    String title = "Medians of " + rounds + " rounds under a " + what
                            + " (the scenarios alternating; each ratio against the same round's kernel-syncookies)";
                    System.out.println(title + ":");
                    System.out.print(medians.text());
                    System.out.println();
                    md.append("## ").append(title).append("\n\n").append(medians.markdown()).append('\n');
                }
            }
        }
        Files.writeString(dir.resolve("results.csv"), Report.csv(all, allRounds), StandardCharsets.UTF_8);
        ScenarioRunner runner = new ScenarioRunner(settings.with(generators.getFirst()), this::progress);

        if (!sweep.isEmpty()) {
            sweep(runner);
        }
        if (relay) {
            new Relay(settings, this::progress, relaySeconds, relayRounds).run(md);
        }
        md.append(legend());
        Files.writeString(dir.resolve("results.md"), md.toString(), StandardCharsets.UTF_8);
        progress(String.format(Locale.ROOT, "done in %s; wrote %s", Duration.ofNanos(System.nanoTime() - started)
                .truncatedTo(ChronoUnit.SECONDS), dir.resolve("results.md").toAbsolutePath()));
        return 0;
    }

    /** One round of one comparison: every scenario once, in order, with its tables; what it measured. */
    private List<Measurement> comparisonRound(ScenarioRunner runner, long floodRate, String what, String suffix,
                                              int round, List<Measurement> all, List<Integer> allRounds)
            throws Exception {
        String ofRound = rounds > 1 ? " (round " + round + " of " + rounds + ")" : "";
        String roundSuffix = suffix + (rounds > 1 ? "-round" + round : "");
        List<Measurement> main = new ArrayList<>();
        for (Scenario s : scenarios) {
            if (s == Scenario.HAPROXY_SYNCOOKIES && !Shell.has("haproxy")) {
                if (round == 1) {
                    progress("haproxy-syncookies: skipped, haproxy is not installed");
                    md.append("* haproxy-syncookies: skipped, haproxy is not installed\n\n");
                }
                continue;
            }
            Measurement m = runner.run(s, floodRate);
            main.add(m);
            all.add(m);
            allRounds.add(round);
            Report.writeHlog(dir.resolve(s.label + roundSuffix + ".hlog"), m);
        }
        Table table = Report.table(main);
        System.out.println();
        System.out.println("Under a " + what + ofRound + ":");
        System.out.print(table.text());
        System.out.println();
        md.append("## Under a ").append(what).append(ofRound).append("\n\n").append(table.markdown()).append('\n');
        Table versus = Report.versusKernel(main);
        if (versus != null) {
            System.out.println("Against kernel-syncookies of the same run:");
            System.out.print(versus.text());
            System.out.println();
            md.append("Against kernel-syncookies of the same run:\n\n").append(versus.markdown()).append('\n');
        }
        notes(main);
        List<Chart.Series> series = new ArrayList<>();
        for (Measurement m : main) {
            series.add(new Chart.Series(m.scenario().label, m.legit().firstByte()));
        }
        Chart.write(dir.resolve("latency-under-flood" + roundSuffix + ".png"),
                "Time to first byte under a " + what + ofRound, series);
        md.append("![first-byte latency percentiles](latency-under-flood").append(roundSuffix).append(".png)\n\n");
        return main;
    }

    /** Only the relay section ({@code --relay-only}): no flood scenario. */
    int runRelayOnly() throws Exception {
        progress("results in " + dir.toAbsolutePath());
        md.append("# synproxy-bench results (relay only)\n\nsynproxy with --handoff ").append(settings.handoff())
                .append(".\n\n");
        new Relay(settings, this::progress, relaySeconds, relayRounds).run(md);
        Files.writeString(dir.resolve("results.md"), md.toString(), StandardCharsets.UTF_8);
        return 0;
    }

    private void notes(List<Measurement> ms) {
        for (Measurement m : ms) {
            if (!m.note().isEmpty()) {
                md.append("* ").append(m.scenario().label).append(": ").append(m.note()).append('\n');
                System.out.println("note: " + m.scenario().label + ": " + m.note());
            }
        }
        md.append('\n');
    }

    /**
     * For each scenario, climbs the rates until legit success is below 99% at two rates in a row (one bad
     * run on a noisy host does not end a sweep); reports the highest rate that held, and every rate that did not.
     */
    private void sweep(ScenarioRunner runner) throws Exception {
        Map<Scenario, List<Measurement>> all = new LinkedHashMap<>();
        Map<Scenario, String> best = new LinkedHashMap<>();
        List<Measurement> flat = new ArrayList<>();
        for (Scenario s : scenarios) {
            List<Measurement> ms = new ArrayList<>();
            String highest = "none of the rates tried";
            int failuresInARow = 0;
            for (long pps : sweep) {
                Measurement m = runner.run(s, pps);
                ms.add(m);
                flat.add(m);
                String rate = pps > 0 ? Report.num(pps) + " pps" : "max rate";
                if (m.legit().successPercent() >= 99.0) {
                    highest = rate + " (" + Report.num(m.achievedPps()) + " pps sent)";
                    failuresInARow = 0;
                } else if (++failuresInARow == 2) {
                    progress(s.label + ": below 99% at two rates in a row; stopping its sweep at " + rate);
                    break;
                }
            }
            all.put(s, ms);
            best.put(s, highest);
        }
        Files.writeString(dir.resolve("sweep.csv"), Report.csv(flat), StandardCharsets.UTF_8);
        Table sweepTable = new Table("scenario", "target pps", "sent pps", "arrived pps", "SYN/ACK/s", "legit ok",
                "first byte ms p50 / p99 / p99.9 / max");
        for (Measurement m : flat) {
            sweepTable.row(m.scenario().label, m.targetPps() > 0 ? Report.num(m.targetPps()) : "max",
                    Report.num(m.achievedPps()), Report.num(m.arrivedPps()), Report.num(m.synAckPps()),
                    String.format(Locale.ROOT, "%.2f%%", m.legit().successPercent()),
                    Report.percentiles(m.legit().firstByte()));
        }
        Table bestTable = new Table("scenario", "highest flood rate with legit success >= 99%",
                "rates below 99%");
        best.forEach((s, v) -> bestTable.row(s.label, v, String.join(", ", all.get(s).stream()
                .filter(m -> m.legit().successPercent() < 99.0)
                .map(m -> (m.targetPps() > 0 ? Report.num(m.targetPps()) : "max") + String.format(Locale.ROOT,
                        " (%.1f%%)", m.legit().successPercent())).toList())));
        System.out.println();
        System.out.println("Sweep:");
        System.out.print(sweepTable.text());
        System.out.println();
        System.out.print(bestTable.text());
        System.out.println();
        md.append("## Sweep\n\n").append(sweepTable.markdown()).append('\n').append(bestTable.markdown()).append('\n');
    }

    private String legend() {
        return """
                ## How to read this

                * **no-flood first byte p50**: median time to first byte over 1.5 s of clients without flood,
                  after 1 s of warm-up, just before the flood.
                * **flood pps sent**: what the flood generator handed to its TX ring, per second, while the clients ran.
                  **arrived pps**: packets the server's interface received per second (the rest was dropped on the way,
                  e.g. by a full per-CPU backlog: the host is the bottleneck, not the defence).
                * **SYN/ACK/s**: SYN/ACKs reaching the attacker host per second (an nftables counter at its interface's
                  ingress, which drops them), i.e. how many flood SYNs the defence answered; retransmitted SYN/ACKs of
                  half-open sockets count too.
                * **legit ok**: legitimate connections that got a complete `200` within the timeout, of all started.
                  Latencies run from each connection's *intended* start (open model, coordinated omission corrected);
                  a failed connection is recorded at the timeout value, never dropped.
                * **server procs CPU**: user+system CPU of nginx and the proxy process, in cores. Kernel work done in
                  softirq (where the kernel defences run) is not attributable to a namespace: **host CPU busy /
                  softirq** is the whole machine's, flood generator and clients included, in cores.
                * **proxy RSS**: resident memory of the synproxy process before the flood and after it.
                * **proxy CPU ns / SYN/ACK**: user + system CPU of the proxy process (synproxy, or HAProxy, which
                  answers no SYN itself) from `/proc/PID/stat` over the flood window, divided by the SYN/ACKs counted
                  at the attacker. **host softirq ns / SYN/ACK**: the whole host's softirq time over the same window
                  divided the same way; for kernel-syncookies that is where the cookies are made, but it also holds
                  the generator's and the clients' packets, so read it as an upper bound.
                * **proxy CPU ns / packet**: the same CPU divided by the packets that arrived at the server: the
                  figure to compare between a SYN flood and an ACK flood (an ACK flood gets no SYN/ACK).
                * **x kernel**: the scenario's SYN/ACKs per second and first-byte p99 divided by kernel-syncookies' in
                  the same run (same generator, same rate): on a shared host the ratios mean more than the figures.
                """;
    }

    static String read(Path p) throws IOException {
        return Files.readString(p, StandardCharsets.UTF_8);
    }
}
