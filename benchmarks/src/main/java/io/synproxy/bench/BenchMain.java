package io.synproxy.bench;

import io.synproxy.config.Handoff;
import io.synproxy.testsupport.Shell;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code java -jar synproxy-bench.jar [--quick|--full] [--out DIR]}: the same spoofed flood and the same
 * legitimate clients against four defences, on hosts it builds itself; {@code jmh [ARGS]} runs the JMH
 * micro-benchmarks instead.
 */
@Command(name = "synproxy-bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Floods each defence with spoofed SYNs while real clients fetch a page from nginx, and prints",
            "one comparison table: unprotected, kernel-syncookies, nft-synproxy, synproxy. Needs root.",
            "Subcommand 'jmh [JMH options]' runs the micro-benchmarks (e.g. jmh -prof gc)."})
public final class BenchMain implements Callable<Integer> {
    /** A comparison takes about half a minute a round per scenario: twenty is already ten minutes for two. */
    static final int MAX_ROUNDS = 20;

    @Option(names = "--quick", description = "about a minute: one flood rate, short phases (the default)")
    boolean quick;

    @Option(names = "--full", description = "sweep flood rates; find each defence's highest rate with >= 99%% legit success")
    boolean full;

    @Option(names = "--out", paramLabel = "DIR", description = "results folder (default: results/<timestamp>)")
    Path out;

    @Option(names = "--flood-rate", split = ",", paramLabel = "PPS,...",
            description = "flood rate(s) of the comparison run in packets/s, 0 = as fast as possible; each rate is one "
                    + "comparison (default: ${DEFAULT-VALUE})")
    List<Long> floodRates = List.of(10_000L);

    @Option(names = "--generator", split = ",", paramLabel = "txring|trafgen|hping3,...",
            description = "who floods: the bench's own TX ring writer (Linux SYN options), trafgen (one core), "
                    + "hping3 --flood --rand-source; each one is a comparison (default: ${DEFAULT-VALUE})")
    List<String> generatorNames = List.of("txring");

    @Option(names = "--flood", paramLabel = "syn|ack", description = "flood kind (default: ${DEFAULT-VALUE})")
    String floodKind = "syn";

    @Option(names = "--legit-rate", paramLabel = "N", description = "legitimate connections per second (default: ${DEFAULT-VALUE})")
    double legitRate = 200;

    @Option(names = "--duration", paramLabel = "SECONDS", description = "legitimate load per scenario (default: 6 quick, 15 full)")
    Integer duration;

    @Option(names = "--timeout", paramLabel = "MS", description = "a legitimate request slower than this failed (default: ${DEFAULT-VALUE})")
    long timeoutMillis = 3000;

    @Option(names = "--sweep", split = ",", paramLabel = "PPS,...",
            description = "flood rates of the full sweep (default: ${DEFAULT-VALUE})")
    List<Long> sweep = List.of(5_000L, 20_000L, 50_000L, 100_000L, 200_000L, 0L);

    @Option(names = "--scenarios", split = ",", paramLabel = "NAME,...",
            description = "subset of: unprotected, kernel-syncookies, nft-synproxy, synproxy, haproxy-syncookies "
                    + "(default: the first four; --full adds haproxy-syncookies)")
    List<String> scenarios;

    @Option(names = "--no-relay", description = "skip the iperf3/wrk relay throughput section")
    boolean noRelay;

    @Option(names = "--relay-only", description = "only the relay section: direct, HAProxy and synproxy, no flood")
    boolean relayOnly;

    @Option(names = "--rounds", paramLabel = "N",
            description = "run each comparison's scenarios N times, alternating, and add a table of the medians "
                    + "(default: ${DEFAULT-VALUE})")
    int rounds = 1;

    @Option(names = "--handoff", paramLabel = "auto|repair|kernel",
            description = "synproxy's --handoff for every instance the bench starts but the ring scenario's "
                    + "(default: ${DEFAULT-VALUE}, as synproxy's own)")
    String handoff = "auto";

    @Option(names = "--relay-seconds", paramLabel = "SECONDS",
            description = "length of each relay test (default: 2 quick, 5 full)")
    Integer relaySeconds;

    @Option(names = "--relay-rounds", paramLabel = "N",
            description = "run every relay test N times, the routes in a rotating order, and report the medians "
                    + "(default: 1 quick, 3 full)")
    Integer relayRounds;

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("jmh")) {
            org.openjdk.jmh.Main.main(Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        System.exit(new CommandLine(new BenchMain()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (quick && full) {
            return fail("choose one of --quick and --full");
        }
        if (floodRates.stream().anyMatch(r -> r == null || r < 0) || sweep.stream().anyMatch(r -> r == null || r < 0)) {
            return fail("flood rates are packets per second, 0 or more (0 = as fast as possible)");
        }
        if (legitRate <= 0 || (duration != null && duration < 1) || timeoutMillis < 1) {
            return fail("--legit-rate, --duration and --timeout must be positive");
        }
        try {
            Handoff.parse(handoff);
        } catch (IllegalArgumentException e) {
            return fail(e.getMessage());
        }
        if (rounds < 1 || rounds > MAX_ROUNDS) {
            return fail("--rounds must be 1 to " + MAX_ROUNDS + ", not " + rounds);
        }
        if (relayRounds != null && (relayRounds < 1 || relayRounds > MAX_ROUNDS)) {
            return fail("--relay-rounds must be 1 to " + MAX_ROUNDS + ", not " + relayRounds);
        }
        String problem = preflight();
        if (problem != null) {
            return fail(problem);
        }
        TxRingFlood.Kind kind;
        try {
            kind = TxRingFlood.Kind.valueOf(floodKind.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return fail("--flood must be syn or ack, not " + floodKind);
        }
        List<FloodGenerator> generators = new ArrayList<>();
        try {
            for (String g : generatorNames) {
                FloodGenerator generator = FloodGenerator.byLabel(g);
                if (generator.tool != null && !Shell.has(generator.tool)) {
                    return fail("--generator " + g + " needs '" + generator.tool + "', which is not installed");
                }
                generators.add(generator);
            }
        } catch (IllegalArgumentException e) {
            return fail(e.getMessage());
        }
        List<Scenario> chosen = new ArrayList<>();
        try {
            for (String s : scenarios != null ? scenarios : List.<String>of()) {
                chosen.add(Scenario.byLabel(s));
            }
        } catch (IllegalArgumentException e) {
            return fail(e.getMessage());
        }
        if (chosen.isEmpty()) {
            chosen.addAll(full ? List.of(Scenario.values()) : Scenario.QUICK);
        }
        Path dir = out != null ? out
                : Path.of("results", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            return fail("cannot create the results folder " + dir.toAbsolutePath() + " (" + e.getClass().getSimpleName() + ")");
        }
        int seconds = duration != null ? duration : full ? 15 : 6;
        Path jar = ownJar();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ScenarioRunner.Settings settings = new ScenarioRunner.Settings(legitRate, seconds * 1000L, timeoutMillis,
                1000, kind, generators.getFirst(), dir.toAbsolutePath(), jar, java, handoff);
        try {
            int relayTest = relaySeconds != null ? Math.max(1, relaySeconds) : full ? 5 : 2;
            Bench bench = new Bench(settings, chosen, full ? sweep : List.of(), floodRates, generators, !noRelay,
                    relayTest, relayRounds != null ? relayRounds : full ? 3 : 1, rounds, dir);
            return relayOnly ? bench.runRelayOnly() : bench.run();
        } catch (Exception e) {
            System.err.println("synproxy-bench: stopped: " + e.getMessage()
                    + " (namespaces removed; partial results in " + dir.toAbsolutePath() + ")");
            if (Boolean.getBoolean("synproxy.bench.trace")) {
                e.printStackTrace();
            }
            return 1;
        }
    }

    private static int fail(String sentence) {
        System.err.println("synproxy-bench: " + sentence);
        return 1;
    }

    /** One sentence saying what is missing, or null when the host can run the bench. */
    static String preflight() {
        if (effectiveUid() != 0) {
            return "must run as root: it creates network namespaces, veth pairs and nftables tables";
        }
        for (String tool : List.of("ip", "nft", "nginx", "sysctl")) {
            if (!Shell.has(tool)) {
                return "'" + tool + "' is not installed (the bench needs iproute2, nftables, nginx and procps, e.g. "
                        + "apt-get install iproute2 nftables nginx-light procps)";
            }
        }
        if (Runtime.version().feature() < 25) {
            return "needs Java 25 or newer, this is " + Runtime.version();
        }
        return null;
    }

    /** The effective uid from /proc/self/status, or -1 if unreadable. */
    static long effectiveUid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Long.parseLong(line.substring(4).trim().split("\\s+")[1]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** The jar this class was loaded from; the proxy runs from it ({@code io.synproxy.cli.Main}). */
    static Path ownJar() throws IOException {
        try {
            Path p = Path.of(BenchMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isRegularFile(p)) {
                return p;
            }
            // Run from target/classes (an IDE): use the packaged jar beside it.
            Path jar = p.resolveSibling("synproxy-bench.jar");
            if (Files.isRegularFile(jar)) {
                return jar;
            }
            throw new IOException("cannot find synproxy-bench.jar near " + p + "; run 'mvn package' first");
        } catch (URISyntaxException e) {
            throw new IOException(e);
        }
    }
}
