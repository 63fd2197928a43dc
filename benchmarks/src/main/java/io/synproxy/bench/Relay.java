package io.synproxy.bench;

import io.synproxy.testsupport.Nginx;
import io.synproxy.testsupport.Shell;
import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Throughput through the relay, as a ratio to the direct connection on the same hosts and no flood:
 * bulk transfer with iperf3 (upload and download) and HTTP request rate with wrk (keep-alive, and one
 * new connection per request). Tools that are not installed are skipped with a note.
 */
final class Relay {
    static final int HTTP_DIRECT = 8081;
    static final int HTTP_BACKEND = 8080;
    static final int HTTP_PROXY = 80;
    static final int IPERF_DIRECT = 5202;
    static final int IPERF_BACKEND = 5201;
    static final int IPERF_PROXY = 5201;
    private static final Pattern RECEIVED = Pattern.compile(
            "\"sum_received\"\\s*:\\s*\\{[^}]*?\"bits_per_second\"\\s*:\\s*([0-9.eE+-]+)");
    private static final Pattern RPS = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
    private static final Pattern SOCKET_ERRORS = Pattern.compile("Socket errors: ([^\\n]+)");
    private static final Pattern NON_2XX = Pattern.compile("Non-2xx or 3xx responses: (\\d+)");

    private final ScenarioRunner.Settings settings;
    private final Consumer<String> progress;
    private final int seconds;

    Relay(ScenarioRunner.Settings settings, Consumer<String> progress, int seconds) {
        this.settings = settings;
        this.progress = progress;
        this.seconds = seconds;
    }

    /** {@code proxyCores}: CPU of the synproxy process during the proxied run, in cores. */
    record Row(String test, double direct, double proxied, String unit, double proxyCores, String note) {
    }

    List<Row> run(StringBuilder md) throws Exception {
        boolean iperf = Shell.has("iperf3");
        boolean wrk = Shell.has("wrk");
        List<Row> rows = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        if (!iperf) {
            skipped.add("iperf3 is not installed: bulk transfer skipped");
        }
        if (!wrk) {
            skipped.add("wrk is not installed: request rate skipped");
        }
        if (iperf || wrk) {
            Path dir = settings.workDir().resolve("relay");
            Files.createDirectories(dir);
            try (TestNet net = TestNet.switched()) {
                net.sysctl(net.serverNs(), "net.core.somaxconn", "4096");
                Process nginx = Nginx.start(net, net.serverNs(), dir.resolve("nginx"), 4096,
                        List.of("127.0.0.1:" + HTTP_BACKEND, TestNet.SERVER_IP + ":" + HTTP_DIRECT));
                Process httpProxy = startProxy(net, dir.resolve("synproxy-http.log"), HTTP_PROXY, HTTP_BACKEND);
                ScenarioRunner.awaitHttp(net, "http://" + TestNet.SERVER_IP + ":" + HTTP_DIRECT + "/", nginx, null);
                ScenarioRunner.awaitHttp(net, "http://" + TestNet.SERVER_IP + ":" + HTTP_PROXY + "/", nginx, httpProxy);
                if (iperf) {
                    net.start(net.serverNs(), ProcessBuilder.Redirect.DISCARD, Shell.bin("iperf3"), "-s", "-B", "127.0.0.1",
                            "-p", Integer.toString(IPERF_BACKEND));
                    net.start(net.serverNs(), ProcessBuilder.Redirect.DISCARD, Shell.bin("iperf3"), "-s", "-B", TestNet.SERVER_IP,
                            "-p", Integer.toString(IPERF_DIRECT));
                    Process iperfProxy = startProxy(net, dir.resolve("synproxy-iperf.log"), IPERF_PROXY, IPERF_BACKEND);
                    Thread.sleep(500);
                    for (boolean reverse : new boolean[] {false, true}) {
                        String name = reverse ? "iperf3 download (server to client)" : "iperf3 upload (client to server)";
                        double d = iperf(net, IPERF_DIRECT, reverse);
                        double[] cpu = {Probe.processCpuSeconds(iperfProxy.pid()), System.nanoTime()};
                        double p = iperf(net, IPERF_PROXY, reverse);
                        rows.add(new Row(name, d / 1e9, p / 1e9, "Gbit/s", cores(iperfProxy, cpu), ""));
                        progress.accept(String.format(Locale.ROOT, "relay: %s: direct %.2f, through synproxy %.2f Gbit/s",
                                name, d / 1e9, p / 1e9));
                    }
                }
                if (wrk) {
                    for (boolean close : new boolean[] {false, true}) {
                        String name = close ? "wrk, new connection per request" : "wrk, keep-alive (32 connections)";
                        String[] d = wrk(net, HTTP_DIRECT, close);
                        double[] cpu = {Probe.processCpuSeconds(httpProxy.pid()), System.nanoTime()};
                        String[] p = wrk(net, HTTP_PROXY, close);
                        double proxyCores = cores(httpProxy, cpu);
                        String note = (d[1].isEmpty() ? "" : "direct: " + d[1]) + (p[1].isEmpty() ? ""
                                : (d[1].isEmpty() ? "" : "; ") + "synproxy: " + p[1]);
                        rows.add(new Row(name, Double.parseDouble(d[0]), Double.parseDouble(p[0]), "requests/s",
                                proxyCores, note));
                        progress.accept(String.format(Locale.ROOT, "relay: %s: direct %s, through synproxy %s requests/s%s",
                                name, d[0], p[0], note.isEmpty() ? "" : " (" + note + ")"));
                    }
                }
            }
        }
        Table t = new Table("test (no flood)", "direct", "through synproxy", "unit", "ratio", "synproxy CPU (cores)",
                "note");
        for (Row r : rows) {
            t.row(r.test(), fmt(r.direct()), fmt(r.proxied()), r.unit(),
                    r.direct() > 0 ? String.format(Locale.ROOT, "%.2f", r.proxied() / r.direct()) : "-",
                    String.format(Locale.ROOT, "%.2f", r.proxyCores()), r.note());
        }
        System.out.println();
        System.out.println("Relay throughput, " + seconds + " s per test:");
        System.out.print(t.text());
        skipped.forEach(s -> System.out.println("note: " + s));
        System.out.println();
        md.append("## Relay throughput (no flood, ").append(seconds).append(" s per test)\n\n").append(t.markdown())
                .append('\n');
        skipped.forEach(s -> md.append("* ").append(s).append('\n'));
        md.append('\n');
        return rows;
    }

    /** CPU cores the process used since {@code start = {cpu seconds, nanoTime}}. */
    private static double cores(Process p, double[] start) {
        return (Probe.processCpuSeconds(p.pid()) - start[0]) / ((System.nanoTime() - start[1]) / 1e9);
    }

    private static String fmt(double v) {
        return v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.2f", v);
    }

    private Process startProxy(TestNet net, Path log, int port, int backendPort) throws Exception {
        Process p = net.start(net.serverNs(), ProcessBuilder.Redirect.appendTo(log.toFile()), settings.java(),
                "--enable-native-access=ALL-UNNAMED", "-cp", settings.jar().toString(), "io.synproxy.cli.Main",
                "run", "--listen", TestNet.SERVER_IP + ":" + port, "--backend", "127.0.0.1:" + backendPort,
                "--stats-interval", "0");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (Files.exists(log) && Files.readString(log, StandardCharsets.UTF_8).contains("synproxy: protecting")) {
                return p;
            }
            if (!p.isAlive()) {
                throw new IOException("synproxy did not start: " + Files.readString(log).trim());
            }
            Thread.sleep(50);
        }
        throw new IOException("synproxy did not start within 30 s");
    }

    /** Bits per second received, from iperf3's JSON summary. */
    private double iperf(TestNet net, int port, boolean reverse) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Shell.bin("iperf3"), "-c", TestNet.SERVER_IP, "-p", Integer.toString(port),
                "-t", Integer.toString(seconds), "-J"));
        if (reverse) {
            cmd.add("-R");
        }
        String json = net.exec(net.clientNs(), cmd.toArray(String[]::new));
        Matcher m = RECEIVED.matcher(json);
        if (!m.find()) {
            throw new IOException("no iperf3 summary: " + json.substring(0, Math.min(400, json.length())));
        }
        return Double.parseDouble(m.group(1));
    }

    /** {requests/s, error note} from wrk. */
    private String[] wrk(TestNet net, int port, boolean close) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Shell.bin("wrk"), "-t", "2", "-c", close ? "8" : "32", "-d", seconds + "s"));
        if (close) {
            cmd.addAll(List.of("-H", "Connection: close"));
        }
        cmd.add("http://" + TestNet.SERVER_IP + ":" + port + "/");
        String out = net.exec(net.clientNs(), cmd.toArray(String[]::new));
        Matcher m = RPS.matcher(out);
        if (!m.find()) {
            throw new IOException("no wrk summary: " + out);
        }
        String note = "";
        Matcher e = SOCKET_ERRORS.matcher(out);
        if (e.find()) {
            note = "socket errors " + e.group(1).trim();
        }
        Matcher n = NON_2XX.matcher(out);
        if (n.find()) {
            note += (note.isEmpty() ? "" : ", ") + n.group(1) + " non-2xx";
        }
        return new String[] {m.group(1), note};
    }
}
