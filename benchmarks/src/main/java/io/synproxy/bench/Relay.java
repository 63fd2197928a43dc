package io.synproxy.bench;

import io.synproxy.testsupport.Nginx;
import io.synproxy.testsupport.Shell;
import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.ToDoubleFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The relay compared, no flood, every path in the same run on the same nginx and iperf3 backends: direct, HAProxy
 * ({@code mode tcp}, one thread, with and without {@code option splice-auto}) and synproxy (and, when
 * {@value #BASELINE_PROPERTY} names another synproxy jar, that build too: before and after in one run). Bulk
 * transfer with iperf3 both ways, HTTP requests with wrk (keep-alive, and one new connection per request),
 * connect + first byte of sequential connections, each proxy's CPU per connection and per GB and its resident
 * memory (VmHWM). Tools that are not installed are skipped with a note.
 */
final class Relay {
    /** A system property naming a second synproxy jar to measure beside this one (e.g. main's build). */
    static final String BASELINE_PROPERTY = "synproxy.bench.baselineJar";
    /** Extra JVM flags for the baseline's processes only (space separated): one jar, two JVM settings, same run. */
    static final String BASELINE_FLAGS_PROPERTY = "synproxy.bench.baselineJvmFlags";
    /**
     * Extra {@code synproxy run} flags for the baseline's processes only (space or ';' separated): one jar, two proxy
     * settings, same run.
     */
    static final String BASELINE_ARGS_PROPERTY = "synproxy.bench.baselineArgs";
    /** The JVM flags of the ./synproxy launcher, so that memory is measured as users run it. */
    static final List<String> DAEMON_JVM_FLAGS = List.of("-XX:+UseSerialGC", "-Xms16m", "-Xmx128m",
            "-XX:MinHeapFreeRatio=10", "-XX:MaxHeapFreeRatio=30", "-XX:MaxMetaspaceSize=64m",
            "-XX:ReservedCodeCacheSize=32m", "-XX:CICompilerCount=2", "-Xss512k", "-XX:+UseCompactObjectHeaders",
            "-XX:TrimNativeHeapInterval=2000", "-XX:CompileThresholdScaling=0.5", "-XX:PerMethodTrapLimit=0",
            "-XX:PerBytecodeTrapLimit=0");
    static final int HTTP_BACKEND = 8080;
    static final int IPERF_BACKEND = 5201;
    /** Per route and round: the p99 is then the 20th slowest, not the 3rd. */
    private static final int SEQUENTIAL_CONNECTIONS = 2000;
    private static final Pattern RECEIVED = Pattern.compile(
            "\"sum_received\"\\s*:\\s*\\{[^}]*?\"bytes\"\\s*:\\s*([0-9.eE+-]+)[^}]*?\"bits_per_second\"\\s*:\\s*([0-9.eE+-]+)");
    private static final Pattern RPS = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
    private static final Pattern REQUESTS = Pattern.compile("(\\d+) requests in");
    private static final Pattern SOCKET_ERRORS = Pattern.compile("Socket errors: ([^\\n]+)");
    private static final Pattern NON_2XX = Pattern.compile("Non-2xx or 3xx responses: (\\d+)");

    private final ScenarioRunner.Settings settings;
    private final Consumer<String> progress;
    private final int seconds;
    /** How many times every test runs on every route; the table gives the medians ({@code --relay-rounds}). */
    private final int rounds;

    Relay(ScenarioRunner.Settings settings, Consumer<String> progress, int seconds, int rounds) {
        this.settings = settings;
        this.progress = progress;
        this.seconds = seconds;
        this.rounds = rounds;
    }

    /** One way to the backends: its ports, and the proxy processes to charge CPU and memory to (none: direct). */
    private record Route(String label, int httpPort, int iperfPort, Process http, Process iperf) {
        boolean proxied() {
            return http != null;
        }
    }

    /** One measure's values from every round; its median is what the table shows. */
    private static final class Samples {
        private final List<Double> values = new ArrayList<>();

        void add(double v) {
            if (!Double.isNaN(v)) {
                values.add(v);
            }
        }

        double median() {
            if (values.isEmpty()) {
                return Double.NaN;
            }
            double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
        }
    }

    /** What one route measured, a sample a round; empty (NaN) where a tool was missing. */
    private static final class Result {
        final Samples upload = new Samples();
        final Samples download = new Samples();
        final Samples cpuPerGb = new Samples();
        final Samples keepAlive = new Samples();
        final Samples close = new Samples();
        final Samples cpuPerRequest = new Samples();
        final Samples cpuPerConnection = new Samples();
        /** The whole host's busy CPU per connection (wrk, nginx, the proxy, and every softirq), microseconds. */
        final Samples hostPerConnection = new Samples();
        final Samples p50 = new Samples();
        final Samples p99 = new Samples();
        double hwm = Double.NaN;
        final List<String> notes = new ArrayList<>();
    }

    void run(StringBuilder md) throws Exception {
        boolean iperf = Shell.has("iperf3");
        boolean wrk = Shell.has("wrk");
        boolean haproxy = Shell.has("haproxy");
        List<String> skipped = new ArrayList<>();
        if (!iperf) {
            skipped.add("iperf3 is not installed: bulk transfer skipped");
        }
        if (!wrk) {
            skipped.add("wrk is not installed: request rates skipped");
        }
        if (!haproxy) {
            skipped.add("haproxy is not installed: the HAProxy columns are skipped (apt-get install haproxy)");
        }
        Map<String, Result> results = new LinkedHashMap<>();
        Path dir = settings.workDir().resolve("relay");
        Files.createDirectories(dir);
        try (TestNet net = TestNet.switched()) {
            net.sysctl(net.serverNs(), "net.core.somaxconn", "4096");
            Process nginx = Nginx.start(net, net.serverNs(), dir.resolve("nginx"), 4096,
                    List.of("127.0.0.1:" + HTTP_BACKEND, TestNet.SERVER_IP + ":8081"));
            if (iperf) {
                net.start(net.serverNs(), ProcessBuilder.Redirect.DISCARD, Shell.bin("iperf3"), "-s", "-B", "127.0.0.1",
                        "-p", Integer.toString(IPERF_BACKEND));
                net.start(net.serverNs(), ProcessBuilder.Redirect.DISCARD, Shell.bin("iperf3"), "-s", "-B", TestNet.SERVER_IP,
                        "-p", "5202");
            }
            List<Route> routes = new ArrayList<>();
            routes.add(new Route("direct", 8081, 5202, null, null));
            if (haproxy) {
                Process h = startHaproxy(net, dir, "haproxy", 81, 5203, false);
                routes.add(new Route("HAProxy (1 thread)", 81, 5203, h, h));
                Process s = startHaproxy(net, dir, "haproxy-splice", 82, 5204, true);
                routes.add(new Route("HAProxy splice-auto", 82, 5204, s, s));
            }
            Path jar = settings.jar();
            routes.add(new Route("synproxy", 80, 5201, startProxy(net, jar, dir.resolve("synproxy-http.log"), 80,
                    HTTP_BACKEND), iperf ? startProxy(net, jar, dir.resolve("synproxy-iperf.log"), 5201, IPERF_BACKEND)
                    : null));
            String baseline = System.getProperty(BASELINE_PROPERTY, "");
            if (!baseline.isBlank()) {
                Path b = Path.of(baseline);
                routes.add(new Route("synproxy (baseline)", 85, 5205, startProxy(net, b, dir.resolve("baseline-http.log"),
                        85, HTTP_BACKEND, baselineFlags(), baselineArgs()), iperf ? startProxy(net, b,
                        dir.resolve("baseline-iperf.log"), 5205, IPERF_BACKEND, baselineFlags(), baselineArgs()) : null));
            }
            for (Route r : routes) {
                ScenarioRunner.awaitHttp(net, "http://" + TestNet.SERVER_IP + ":" + r.httpPort() + "/", nginx, r.http());
                results.put(r.label(), new Result());
            }
            Thread.sleep(500);
            warmUp(net, routes, iperf, wrk, results);
            // Each test runs on every route back to back, so that a busy host slows them alike; each round starts
            // with the next route, so that no route always follows the same one.
            for (int round = 0; round < rounds; round++) {
                List<Route> order = new ArrayList<>(routes);
                Collections.rotate(order, -round);
                measureRound(net, order, results, iperf, wrk, round);
            }
            for (Route r : routes) {
                if (r.proxied()) {
                    results.get(r.label()).hwm = Math.max(hwmMiB(r.http().pid()),
                            r.iperf() == null ? 0 : hwmMiB(r.iperf().pid()));
                }
            }
        }
        print(md, results, skipped);
    }

    /** One round: every test on every route of {@code order}, one after another. */
    private void measureRound(TestNet net, List<Route> order, Map<String, Result> results, boolean iperf, boolean wrk,
                              int round) throws Exception {
        String of = rounds > 1 ? String.format(Locale.ROOT, " (round %d of %d)", round + 1, rounds) : "";
        if (iperf) {
            for (boolean reverse : new boolean[] {false, true}) {
                for (Route r : order) {
                    Result res = results.get(r.label());
                    double cpu = cpu(r.iperf());
                    double[] bytesAndBits = iperf(net, r.iperfPort(), reverse);
                    cpu = cpu(r.iperf()) - cpu;
                    (reverse ? res.download : res.upload).add(bytesAndBits[1] / 1e9);
                    if (r.proxied()) {
                        res.cpuPerGb.add(cpu / (bytesAndBits[0] / 1e9));
                    }
                    progress.accept(String.format(Locale.ROOT, "relay: iperf3 %s via %s: %.2f Gbit/s%s",
                            reverse ? "download" : "upload", r.label(), bytesAndBits[1] / 1e9, of));
                }
            }
        }
        if (wrk) {
            for (boolean close : new boolean[] {false, true}) {
                for (Route r : order) {
                    Result res = results.get(r.label());
                    double cpu = cpu(r.http());
                    double host = Probe.hostCpuSeconds()[0];
                    double[] w = wrk(net, r.httpPort(), close, res.notes);
                    cpu = cpu(r.http()) - cpu;
                    host = Probe.hostCpuSeconds()[0] - host;
                    if (close) {
                        res.close.add(w[0]);
                        if (r.proxied() && w[1] > 0) {
                            res.cpuPerConnection.add(cpu / w[1] * 1e6);
                        }
                        if (w[1] > 0) {
                            res.hostPerConnection.add(host / w[1] * 1e6);
                        }
                    } else {
                        res.keepAlive.add(w[0]);
                        if (r.proxied() && w[1] > 0) {
                            res.cpuPerRequest.add(cpu / w[1] * 1e6);
                        }
                    }
                    progress.accept(String.format(Locale.ROOT, "relay: wrk %s via %s: %.0f requests/s%s",
                            close ? "new connection per request" : "keep-alive", r.label(), w[0], of));
                }
            }
        }
        double[][] firstBytes = firstBytes(net, order);
        for (int i = 0; i < order.size(); i++) {
            Route r = order.get(i);
            Result res = results.get(r.label());
            double[] p = firstBytes[i];
            res.p50.add(p[0]);
            res.p99.add(p[1]);
            progress.accept(String.format(Locale.ROOT, "relay: connect + first byte via %s: p50 %.2f ms, p99 %.2f ms%s",
                    r.label(), p[0], p[1], of));
        }
    }

    /** The issue's table: one row per measure, one column per route, and synproxy / HAProxy (1 thread). */
    private void print(StringBuilder md, Map<String, Result> results, List<String> skipped) {
        List<String> header = new ArrayList<>(List.of("measure (no flood)"));
        header.addAll(results.keySet());
        boolean ratio = results.containsKey("HAProxy (1 thread)");
        if (ratio) {
            header.add("synproxy / HAProxy");
        }
        Table t = new Table(header.toArray(String[]::new));
        row(t, results, ratio, "iperf3 upload, Gbit/s", r -> r.upload.median(), 2);
        row(t, results, ratio, "iperf3 download, Gbit/s", r -> r.download.median(), 2);
        row(t, results, ratio, "wrk keep-alive, 32 connections, req/s", r -> r.keepAlive.median(), 0);
        row(t, results, ratio, "proxy CPU per keep-alive request, us", r -> r.cpuPerRequest.median(), 1);
        row(t, results, ratio, "wrk, new connection per request, req/s", r -> r.close.median(), 0);
        row(t, results, ratio, "proxy CPU per proxied connection, us", r -> r.cpuPerConnection.median(), 0);
        // Linux bills a packet's receive work to whoever sent it: the kernel's own handshake (the child socket built
        // from the client's final ACK) runs in the client's softirq, outside a proxy that accept()s, while synproxy
        // builds its sockets in its own process. The host's whole CPU above direct's counts both alike.
        row(t, results, ratio, "host CPU per connection, all processes and softirq, us", r -> r.hostPerConnection.median(), 0);
        Result direct = results.get("direct");
        if (direct != null && !Double.isNaN(direct.hostPerConnection.median())) {
            row(t, results, ratio, "host CPU per connection above direct's, us",
                    r -> r == direct ? Double.NaN : r.hostPerConnection.median() - direct.hostPerConnection.median(), 0);
        }
        row(t, results, ratio, "proxy CPU per GB relayed (iperf3), s", r -> r.cpuPerGb.median(), 2);
        row(t, results, ratio, "connect + first byte, sequential, p50 ms", r -> r.p50.median(), 2);
        row(t, results, ratio, "connect + first byte, sequential, p99 ms", r -> r.p99.median(), 2);
        row(t, results, ratio, "resident memory (VmHWM) of the proxy, MiB", r -> r.hwm, 0);
        System.out.println();
        String how = seconds + " s per test" + (rounds > 1 ? ", medians of " + rounds + " rounds" : "");
        System.out.println("Relay compared (no flood, " + how + ", every route in this run):");
        System.out.print(t.text());
        List<String> notes = new ArrayList<>(skipped);
        results.forEach((k, r) -> r.notes.forEach(n -> notes.add(k + ": " + n)));
        notes.forEach(s -> System.out.println("note: " + s));
        System.out.println();
        md.append("## Relay compared (no flood, ").append(how).append(")\n\n").append(t.markdown())
                .append('\n');
        notes.forEach(s -> md.append("* ").append(s).append('\n'));
        md.append('\n');
    }

    private static void row(Table t, Map<String, Result> results, boolean ratio, String name,
                            ToDoubleFunction<Result> f, int decimals) {
        List<String> cells = new ArrayList<>(List.of(name));
        for (Result r : results.values()) {
            double v = f.applyAsDouble(r);
            cells.add(Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%,." + decimals + "f", v));
        }
        if (ratio) {
            double s = f.applyAsDouble(results.get("synproxy"));
            double h = f.applyAsDouble(results.get("HAProxy (1 thread)"));
            cells.add(Double.isNaN(s) || Double.isNaN(h) || h == 0 ? "" : String.format(Locale.ROOT, "%.2f", s / h));
        }
        t.row(cells.toArray(String[]::new));
    }

    /** The scheduler's run time of the process's threads (see {@link Probe#processRunSeconds}). */
    private static double cpu(Process p) {
        return p == null ? 0 : Probe.processRunSeconds(p.pid());
    }

    /** VmHWM (peak resident set) of {@code pid} in MiB, or NaN if it is gone. */
    static double hwmMiB(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone
        }
        return Double.NaN;
    }

    /** HAProxy as a user would put it in front of the server: mode tcp, one thread, foreground. */
    private Process startHaproxy(TestNet net, Path dir, String name, int httpPort, int iperfPort, boolean splice)
            throws Exception {
        Path cfg = dir.resolve(name + ".cfg");
        Files.writeString(cfg, """
                global
                    nbthread 1
                    maxconn 4000
                defaults
                    mode tcp
                    timeout connect 5s
                    timeout client 60s
                    timeout server 60s
                %s
                frontend http
                    bind %s:%d
                    default_backend http
                backend http
                    server nginx 127.0.0.1:%d
                frontend iperf
                    bind %s:%d
                    default_backend iperf
                backend iperf
                    server iperf3 127.0.0.1:%d
                """.formatted(splice ? "    option splice-auto" : "", TestNet.SERVER_IP, httpPort, HTTP_BACKEND,
                TestNet.SERVER_IP, iperfPort, IPERF_BACKEND));
        Path log = dir.resolve(name + ".log");
        Process p = net.start(net.serverNs(), ProcessBuilder.Redirect.appendTo(log.toFile()), Shell.bin("haproxy"), "-db",
                "-f", cfg.toString());
        Thread.sleep(300);
        if (!p.isAlive()) {
            throw new IOException("haproxy did not start: " + Files.readString(log).trim());
        }
        return p;
    }

    private static List<String> baselineFlags() {
        return words(BASELINE_FLAGS_PROPERTY);
    }

    private static List<String> baselineArgs() {
        return words(BASELINE_ARGS_PROPERTY);
    }

    /** A property's words, split at spaces or at ';' (./synproxy's SYNPROXY_JAVA_OPTS splits a -D at its spaces). */
    private static List<String> words(String property) {
        String flags = System.getProperty(property, "").strip();
        return flags.isEmpty() ? List.of() : List.of(flags.split("[\\s;]+"));
    }

    private Process startProxy(TestNet net, Path jar, Path log, int port, int backendPort) throws Exception {
        return startProxy(net, jar, log, port, backendPort, List.of(), List.of());
    }

    private Process startProxy(TestNet net, Path jar, Path log, int port, int backendPort, List<String> extraFlags,
                               List<String> extraArgs) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Shell.bin("env"), "MALLOC_ARENA_MAX=2", settings.java()));
        cmd.addAll(DAEMON_JVM_FLAGS);
        cmd.addAll(extraFlags);
        String mode = System.getProperty("synproxy.relay.mode", "");
        if (!mode.isBlank()) {
            cmd.add("-Dsynproxy.relay.mode=" + mode);
        }
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-cp", jar.toString(), "io.synproxy.cli.Main",
                "run", "--listen", TestNet.SERVER_IP + ":" + port, "--backend", "127.0.0.1:" + backendPort,
                "--stats-interval", "0"));
        if (jar.equals(settings.jar())) {
            // Not the baseline's: an older build may not know the flag.
            cmd.addAll(settings.handoffArgs());
        }
        cmd.addAll(extraArgs);
        Process p = net.start(net.serverNs(), ProcessBuilder.Redirect.appendTo(log.toFile()), cmd.toArray(String[]::new));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            if (Files.exists(log) && Files.readString(log, StandardCharsets.UTF_8).contains("synproxy: protecting")) {
                return p;
            }
            if (!p.isAlive()) {
                throw new IOException("synproxy did not start: " + Files.readString(log).trim());
            }
            Thread.sleep(50);
        }
        throw new IOException("synproxy did not start within 90 s");
    }

    /**
     * One unmeasured pass of every test through every proxy, as long as the measured one, as JMH warms up before it
     * measures; HAProxy gets the same pass. Then, for synproxy, more passes until the JIT is done
     * ({@link #settle}): a fresh JVM compiles the relay path during its first tens of thousands of connections, and
     * the figures are meant to be those of a proxy that has been running, not of its first seconds. What the first
     * pass cost is kept as a note, so that the cold start is in the report too.
     */
    private void warmUp(TestNet net, List<Route> routes, boolean iperf, boolean wrk, Map<String, Result> results)
            throws Exception {
        for (Route r : routes) {
            if (!r.proxied()) {
                continue;
            }
            Result res = results.get(r.label());
            if (iperf) {
                iperf(net, r.iperfPort(), false, seconds);
                iperf(net, r.iperfPort(), true, seconds);
            }
            if (wrk) {
                wrk(net, r.httpPort(), false, new ArrayList<>(), seconds);
                double cpu = cpu(r.http());
                double[] w = wrk(net, r.httpPort(), true, new ArrayList<>(), seconds);
                cpu = cpu(r.http()) - cpu;
                if (isSynproxy(r) && w[1] > 0) {
                    res.notes.add(String.format(Locale.ROOT, "the first %d s of new connections after start cost %.0f us"
                            + " of CPU each (the JIT at work)", seconds, cpu / w[1] * 1e6));
                }
            }
            if (isSynproxy(r)) {
                if (wrk) {
                    settle(r.http(), "HTTP proxy", res.notes, () -> {
                        wrk(net, r.httpPort(), true, new ArrayList<>(), seconds);
                        wrk(net, r.httpPort(), false, new ArrayList<>(), seconds);
                    });
                }
                if (iperf && r.iperf() != null) {
                    settle(r.iperf(), "iperf3 proxy", res.notes, () -> {
                        iperf(net, r.iperfPort(), false, seconds);
                        iperf(net, r.iperfPort(), true, seconds);
                    });
                }
            }
            progress.accept("relay: warmed up " + r.label() + " (not measured)");
        }
    }

    /** Runs {@code pass} until synproxy's JIT is done ({@link JitSettle}), and notes how many passes it took. */
    private void settle(Process proxy, String what, List<String> notes, JitSettle.Pass pass) throws Exception {
        JitSettle.Outcome o = JitSettle.run(proxy.pid(), pass);
        notes.add(String.format(Locale.ROOT, "%s: %d more warm-up pass(es) until the JIT's share of its CPU was %.0f%%"
                + "%s", what, o.passes(), o.share() * 100, o.settled() ? "" : " (not settled: the figures"
                + " include JIT work)"));
    }

    private static boolean isSynproxy(Route r) {
        return r.label().startsWith("synproxy");
    }

    private double[] iperf(TestNet net, int port, boolean reverse) throws IOException {
        return iperf(net, port, reverse, seconds);
    }

    private double[] wrk(TestNet net, int port, boolean close, List<String> notes) throws IOException {
        return wrk(net, port, close, notes, seconds);
    }

    /** {bytes received, bits per second} from iperf3's JSON summary. */
    private double[] iperf(TestNet net, int port, boolean reverse, int seconds) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Shell.bin("iperf3"), "-c", TestNet.SERVER_IP, "-p", Integer.toString(port),
                "-t", Integer.toString(seconds), "-J"));
        if (reverse) {
            cmd.add("-R");
        }
        String json = net.exec(net.clientNs(), cmd.toArray(String[]::new));
        // One iperf3 server takes every route's tests, one at a time: a test that starts the moment the previous one
        // ended can find it still winding down ("the server is busy"). A test that stayed open would fail every try.
        for (int retry = 0; retry < 3 && json.contains("the server is busy"); retry++) {
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
            json = net.exec(net.clientNs(), cmd.toArray(String[]::new));
        }
        Matcher m = RECEIVED.matcher(json);
        if (!m.find()) {
            throw new IOException("no iperf3 summary: " + json.substring(0, Math.min(400, json.length())));
        }
        return new double[] {Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2))};
    }

    /** {requests/s, requests} from wrk; errors go to {@code notes}. */
    private double[] wrk(TestNet net, int port, boolean close, List<String> notes, int seconds) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Shell.bin("wrk"), "-t", "2", "-c", close ? "8" : "32", "-d", seconds + "s"));
        if (close) {
            cmd.addAll(List.of("-H", "Connection: close"));
        }
        cmd.add("http://" + TestNet.SERVER_IP + ":" + port + "/");
        String out = net.exec(net.clientNs(), cmd.toArray(String[]::new));
        Matcher m = RPS.matcher(out);
        Matcher n = REQUESTS.matcher(out);
        if (!m.find() || !n.find()) {
            throw new IOException("no wrk summary: " + out);
        }
        Matcher e = SOCKET_ERRORS.matcher(out);
        if (e.find()) {
            notes.add((close ? "new connection per request" : "keep-alive") + ": socket errors " + e.group(1).trim());
        }
        Matcher x = NON_2XX.matcher(out);
        if (x.find()) {
            notes.add(x.group(1) + " non-2xx responses");
        }
        return new double[] {Double.parseDouble(m.group(1)), Double.parseDouble(n.group(1))};
    }

    /**
     * {p50, p99} in ms of connect + request + first response byte for each route, one connection after another, the
     * routes taken in turn connection by connection: a pause of the host (this one's p99 is a few connections in a
     * round) then falls on every route alike, not on whichever route was being measured when it came.
     */
    private static double[][] firstBytes(TestNet net, List<Route> routes) throws Exception {
        byte[] request = "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        int n = routes.size();
        InetSocketAddress[] addr = new InetSocketAddress[n];
        for (int i = 0; i < n; i++) {
            addr[i] = new InetSocketAddress(TestNet.SERVER_IP, routes.get(i).httpPort());
        }
        double[][] ms = net.in(net.clientNs(), () -> {
            double[][] t = new double[n][SEQUENTIAL_CONNECTIONS];
            for (int k = 0; k < SEQUENTIAL_CONNECTIONS; k++) {
                for (int i = 0; i < n; i++) {
                    t[i][k] = firstByte(addr[i], request);
                }
            }
            return t;
        });
        double[][] p = new double[n][];
        for (int i = 0; i < n; i++) {
            Arrays.sort(ms[i]);
            p[i] = new double[] {ms[i][SEQUENTIAL_CONNECTIONS / 2], ms[i][SEQUENTIAL_CONNECTIONS * 99 / 100]};
        }
        return p;
    }

    /** Connect + request + first response byte of one connection to {@code addr}, in ms; the rest is read. */
    private static double firstByte(InetSocketAddress addr, byte[] request) throws IOException {
        long start = System.nanoTime();
        try (Socket s = new Socket()) {
            s.setSoTimeout(5000);
            s.connect(addr, 5000);
            OutputStream out = s.getOutputStream();
            out.write(request);
            InputStream in = s.getInputStream();
            if (in.read() < 0) {
                throw new IOException("no response from port " + addr.getPort());
            }
            double ms = (System.nanoTime() - start) / 1e6;
            in.readAllBytes();
            return ms;
        }
    }
}
