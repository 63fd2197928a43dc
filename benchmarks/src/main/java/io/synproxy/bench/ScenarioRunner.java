package io.synproxy.bench;

import io.synproxy.testsupport.Nginx;
import io.synproxy.testsupport.Shell;
import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs one scenario under one flood on freshly built hosts (a new set of namespaces each time, so no
 * half-open socket, conntrack entry or TCP metric survives from one scenario into the next).
 */
final class ScenarioRunner {
    static final int PORT = 80;
    static final int BACKEND_PORT = 8080;
    static final int BACKLOG = 128;
    /**
     * Extra JVM flags (space separated) for the flood scenarios' synproxy, after the launcher's, which they override:
     * the same jar under other JVM settings, e.g. those before a change.
     */
    static final String PROXY_FLAGS_PROPERTY = "synproxy.bench.proxyJvmFlags";
    /**
     * Extra arguments (space separated) of the flood scenarios' {@code synproxy run}, e.g. {@code --no-zero-window}.
     */
    static final String PROXY_ARGS_PROPERTY = "synproxy.bench.proxyArgs";
    /**
     * {@code -Dsynproxy.bench.settle=false} floods a synproxy just started (its JIT still compiling what real clients
     * need), as after a restart under attack; by default the flood waits until the JIT is done ({@link #settleJit}).
     */
    static final String SETTLE_PROPERTY = "synproxy.bench.settle";
    private static final Pattern COUNTER = Pattern.compile("counter packets (\\d+)");

    /** @param handoff synproxy's {@code --handoff} (repair or kernel) for every instance the bench starts */
    record Settings(double legitRate, long legitMillis, long timeoutMillis, long settleMillis,
                    TxRingFlood.Kind floodKind, FloodGenerator generator, Path workDir, Path jar, String java,
                    String handoff) {
        Settings with(FloodGenerator g) {
            return new Settings(legitRate, legitMillis, timeoutMillis, settleMillis, floodKind, g, workDir, jar, java,
                    handoff);
        }

        /** The run arguments that {@link #handoff} adds: none for the default. */
        List<String> handoffArgs() {
            return "auto".equals(handoff) ? List.of() : List.of("--handoff", handoff);
        }
    }

    private final Settings settings;
    private final Consumer<String> progress;

    ScenarioRunner(Settings settings, Consumer<String> progress) {
        this.settings = settings;
        this.progress = progress;
    }

    Measurement run(Scenario scenario, long pps) throws Exception {
        String tag = scenario.label + (pps > 0 ? "@" + pps : "@max") + "/" + settings.generator().label;
        Path dir = settings.workDir().resolve(scenario.label + "-" + (pps > 0 ? pps : "max") + "-"
                + settings.generator().label);
        Files.createDirectories(dir);
        try (TestNet net = TestNet.switched()) {
            configureServer(net, scenario);
            Process nginx;
            Process proxy = null;
            if (scenario == Scenario.SYNPROXY || scenario == Scenario.SYNPROXY_RING) {
                nginx = Nginx.start(net, net.serverNs(), dir.resolve("nginx"), BACKLOG, List.of("127.0.0.1:" + BACKEND_PORT));
                proxy = startProxy(net, dir.resolve(scenario.label + ".log"), TestNet.SERVER_IP + ":" + PORT,
                        "127.0.0.1:" + BACKEND_PORT, scenario == Scenario.SYNPROXY_RING);
            } else if (scenario == Scenario.HAPROXY_SYNCOOKIES) {
                nginx = Nginx.start(net, net.serverNs(), dir.resolve("nginx"), BACKLOG, List.of("127.0.0.1:" + BACKEND_PORT));
                proxy = HaproxyFront.start(net, net.serverNs(), dir.resolve("haproxy"), TestNet.SERVER_IP + ":" + PORT,
                        "127.0.0.1:" + BACKEND_PORT, BACKLOG);
            } else {
                nginx = Nginx.start(net, net.serverNs(), dir.resolve("nginx"), BACKLOG, List.of(TestNet.SERVER_IP + ":" + PORT));
            }
            if (scenario == Scenario.NFT_SYNPROXY) {
                installNftSynproxy(net);
            }
            installSynAckCounter(net);
            awaitHttp(net, "http://" + TestNet.SERVER_IP + ":" + PORT + "/", nginx, proxy);

            Thread sampler = startSampler(net, dir.resolve("server-sockets.log"));
            InetSocketAddress target = new InetSocketAddress(TestNet.SERVER_IP, PORT);
            ExecutorService cli = net.threads(net.clientNs(), 1);
            // Warm-up without flood: JITs the proxy's paths and the client's, and proves the path works.
            // The first second is thrown away (cold JITs, a just-started JVM); the next 1.5 s are the baseline.
            cli.submit(() -> new LegitClients(target, settings.legitRate(), settings.timeoutMillis()).run(1000)).get();
            // As the relay section does: the flood meets a proxy whose JIT is done, not one in its first seconds.
            String settled = "";
            boolean jvm = scenario == Scenario.SYNPROXY || scenario == Scenario.SYNPROXY_RING;
            if (jvm && Boolean.parseBoolean(System.getProperty(SETTLE_PROPERTY, "true"))) {
                settled = settleJit(proxy.pid(), () -> cli.submit(() -> new LegitClients(target, settings.legitRate(),
                        settings.timeoutMillis()).run(1000)).get());
            }
            LegitClients.Result warm = cli.submit(() -> new LegitClients(target, settings.legitRate(),
                    settings.timeoutMillis()).run(1500)).get();
            long watched = proxy != null ? proxy.pid() : nginx.pid();
            double rssBefore = Probe.rssMiB(watched);

            String srvMac = net.mac(net.serverNs(), TestNet.SWITCHED_DEV);
            String atkMac = net.mac(net.attackerNs(), TestNet.SWITCHED_DEV);
            ExecutorService atk = net.threads(net.attackerNs(), 1);
            CompletableFuture<Flood> started = new CompletableFuture<>();
            Future<?> floodDone;
            if (settings.generator() == FloodGenerator.TXRING) {
                floodDone = atk.submit(() -> {
                    try (TxRingFlood flood = new TxRingFlood(TestNet.SWITCHED_DEV, atkMac, srvMac, TestNet.SERVER_IP, PORT,
                            settings.floodKind())) {
                        started.complete(flood);
                        flood.run(pps);
                    } catch (Throwable t) {
                        started.completeExceptionally(t);
                    }
                    return null;
                });
            } else {
                started.complete(ExternalFlood.start(net, settings.generator(), settings.floodKind(), atkMac, srvMac,
                        TestNet.SERVER_IP, PORT, pps, dir));
                floodDone = CompletableFuture.completedFuture(null);
            }
            Flood flood = started.get(30, TimeUnit.SECONDS);
            LegitClients.Result legit;
            double seconds;
            long sent0;
            long sent1;
            long synAck0;
            long synAck1;
            long rx0;
            long rx1;
            Map<String, Long> tcp0;
            Map<String, Long> tcp1;
            double proc0;
            double proc1;
            double proxy0;
            double proxy1;
            double[] host0;
            double[] host1;
            try {
                Thread.sleep(settings.settleMillis());
                long t0 = System.nanoTime();
                sent0 = flood.sent();
                synAck0 = synAcks(net);
                rx0 = rxPackets(net);
                tcp0 = tcpCounters(net);
                proxy0 = proxy != null ? Probe.processCpuSeconds(proxy.pid()) : 0;
                proc0 = Probe.processCpuSeconds(nginx.pid()) + proxy0;
                host0 = Probe.hostCpuSeconds();
                progress.accept(String.format(Locale.ROOT, "%s: flooding (%s), %.0f legit connections/s for %d s",
                        tag, settings.floodKind(), settings.legitRate(), settings.legitMillis() / 1000));
                legit = cli.submit(() -> new LegitClients(target, settings.legitRate(), settings.timeoutMillis())
                        .run(settings.legitMillis())).get();
                seconds = (System.nanoTime() - t0) / 1e9;
                sent1 = flood.sent();
                synAck1 = synAcks(net);
                rx1 = rxPackets(net);
                tcp1 = tcpCounters(net);
                proxy1 = proxy != null ? Probe.processCpuSeconds(proxy.pid()) : 0;
                proc1 = Probe.processCpuSeconds(nginx.pid()) + proxy1;
                host1 = Probe.hostCpuSeconds();
            } finally {
                flood.stop();
                floodDone.get(30, TimeUnit.SECONDS);
            }
            Thread.sleep(500);
            double rssAfter = Probe.rssMiB(watched);
            sampler.interrupt();
            long listenDrops = tcp1.getOrDefault("TcpExtListenDrops", 0L) - tcp0.getOrDefault("TcpExtListenDrops", 0L);
            long listenOverflows = tcp1.getOrDefault("TcpExtListenOverflows", 0L)
                    - tcp0.getOrDefault("TcpExtListenOverflows", 0L);
            String note = settled;
            if (proxy != null && !proxy.isAlive()) {
                note = scenario.label + " exited " + proxy.exitValue();
            } else if (!nginx.isAlive()) {
                note = "nginx exited";
            } else if (warm.succeeded() < warm.attempted()) {
                note = "warm-up without flood: " + warm.succeeded() + "/" + warm.attempted() + " ok";
            }
            if (proxy != null && listenOverflows > 0) {
                note = (note.isEmpty() ? "" : note + "; ") + "backend accept queue overflowed " + listenOverflows
                        + " times (TcpExtListenOverflows), ListenDrops " + listenDrops;
            }
            if (flood.wrongFormat() > 0) {
                note = (note.isEmpty() ? "" : note + "; ") + flood.wrongFormat() + " frames refused by the TX ring";
            }
            Measurement m = new Measurement(scenario, settings.floodKind().name(), settings.generator().label, pps,
                    (sent1 - sent0) / seconds, (rx1 - rx0) / seconds, (synAck1 - synAck0) / seconds, legit,
                    (proc1 - proc0) / seconds, proxy != null ? (proxy1 - proxy0) / seconds : Double.NaN,
                    (host1[0] - host0[0]) / seconds, (host1[1] - host0[1]) / seconds,
                    proxy != null ? rssBefore : Double.NaN, proxy != null ? rssAfter : Double.NaN,
                    warm.firstByte().getValueAtPercentile(50), note);
            progress.accept(String.format(Locale.ROOT,
                    "%s: flood %.0f pps sent, %.0f arrived, %.0f SYN/ACK/s; legit %d/%d ok (%.2f%%), first byte p99 %.2f ms;"
                            + " proxy CPU %s ns per SYN/ACK%s",
                    tag, m.achievedPps(), m.arrivedPps(), m.synAckPps(), legit.succeeded(), legit.attempted(),
                    legit.successPercent(), legit.firstByte().getValueAtPercentile(99) / 1000.0,
                    Report.nanos(m.proxyNsPerSynAck()),
                    note.isEmpty() ? "" : " (" + note + ")"));
            return m;
        }
    }

    private static void configureServer(TestNet net, Scenario scenario) throws IOException {
        // Same small queue for every kernel listener; Linux must not favour peers it has seen before.
        net.sysctl(net.serverNs(), "net.core.somaxconn", Integer.toString(BACKLOG));
        net.sysctl(net.serverNs(), "net.ipv4.tcp_max_syn_backlog", Integer.toString(BACKLOG));
        net.sysctl(net.serverNs(), "net.ipv4.tcp_no_metrics_save", "1");
        net.exec(net.serverNs(), Shell.bin("ip"), "tcp_metrics", "flush", "all");
        net.sysctl(net.serverNs(), "net.ipv4.tcp_timestamps", "1");
        net.sysctl(net.serverNs(), "net.ipv4.tcp_syncookies", scenario == Scenario.UNPROTECTED ? "0" : "1");
    }

    /** SYNPROXY as the nftables wiki and nft(8) describe it, in front of port 80. */
    private static void installNftSynproxy(TestNet net) throws IOException {
        net.execIn(net.serverNs(), """
                table ip spb_synproxy {
                  chain pre {
                    type filter hook prerouting priority raw; policy accept;
                    tcp dport %1$d tcp flags syn notrack
                  }
                  chain in {
                    type filter hook input priority filter; policy accept;
                    tcp dport %1$d ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
                    ct state invalid drop
                  }
                }
                """.formatted(PORT), Shell.bin("nft"), "-f", "-");
        // Only after conntrack is loaded does the namespace have this sysctl; the wiki sets it to 0.
        net.sysctl(net.serverNs(), "net.netfilter.nf_conntrack_tcp_loose", "0");
    }

    /**
     * Counts, on the attacker host, the SYN/ACKs the server sends back to spoofed sources, and drops them there, at
     * the device's ingress. On a real uplink they leave the machine; here the attacker's kernel would otherwise take
     * each one through IP input (route lookup, socket lookup, an ICMP error) in the softirq of whoever sent it: the
     * generator's thread for the kernel's SYN/ACKs, the proxy's send() for synproxy's, which bills a cost of the test
     * bed to one side.
     */
    private static void installSynAckCounter(TestNet net) throws IOException {
        net.execIn(net.attackerNs(), """
                table netdev spb_count {
                  chain in {
                    type filter hook ingress device "%s" priority -500; policy accept;
                    tcp flags & (syn | ack) == (syn | ack) counter drop
                  }
                }
                """.formatted(TestNet.SWITCHED_DEV), Shell.bin("nft"), "-f", "-");
    }

    private static long synAcks(TestNet net) throws IOException {
        Matcher m = COUNTER.matcher(net.exec(net.attackerNs(), Shell.bin("nft"), "list", "chain", "netdev", "spb_count", "in"));
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    /** The server namespace's TCP counters ("TcpExtListenDrops", ...) from /proc/net/snmp and netstat. */
    private static Map<String, Long> tcpCounters(TestNet net) throws IOException {
        Map<String, Long> counters = new HashMap<>();
        for (String file : List.of("/proc/net/snmp", "/proc/net/netstat")) {
            String[] lines = net.exec(net.serverNs(), Shell.bin("cat"), file).split("\n");
            for (int i = 0; i + 1 < lines.length; i += 2) {
                String[] names = lines[i].trim().split("\\s+");
                String[] values = lines[i + 1].trim().split("\\s+");
                for (int k = 1; k < Math.min(names.length, values.length); k++) {
                    try {
                        counters.put(names[0].replace(":", "") + names[k], Long.parseLong(values[k]));
                    } catch (NumberFormatException ignored) {
                        // a header line out of step; the next pair realigns
                    }
                }
            }
        }
        return counters;
    }

    /**
     * Every second, the server's listening sockets with their accept-queue depth ({@code ss -ltn}: Recv-Q)
     * and its socket summary, appended to {@code log}: shows a backlog filling while it happens.
     */
    private static Thread startSampler(TestNet net, Path log) {
        Thread t = new Thread(() -> {
            long start = System.nanoTime();
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    String ss = net.exec(net.serverNs(), Shell.bin("ss"), "-Hltn");
                    String summary = net.exec(net.serverNs(), Shell.bin("ss"), "-s").lines()
                            .filter(l -> l.startsWith("TCP:")).findFirst().orElse("");
                    Files.writeString(log, String.format(Locale.ROOT, "--- %.1f s %s%n%s",
                            (System.nanoTime() - start) / 1e9, summary, ss), StandardCharsets.UTF_8,
                            StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    return;
                } catch (IOException | RuntimeException e) {
                    return; // the namespace is gone
                }
            }
        }, "spb-sampler");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /**
     * Runs {@code pass} (a second of real clients) until the proxy's JIT is done ({@link JitSettle}): a fresh JVM
     * compiles the real clients' path during their first seconds (about 250 compiles and 1.4 s of compiler CPU in the
     * first 5 s at 100 connections a second in the two-namespace rig), and their first-byte p99 there was about twice
     * that of later seconds. Returns the note that says how many passes it took.
     */
    private static String settleJit(long pid, JitSettle.Pass pass) throws Exception {
        JitSettle.Outcome o = JitSettle.run(pid, pass);
        return String.format(Locale.ROOT, "%d s of clients before the flood until the JIT's share of the proxy's CPU "
                + "was %.0f%%%s", o.passes(), o.share() * 100, o.settled() ? "" : " (not settled)");
    }

    private static long rxPackets(TestNet net) throws IOException {
        return Long.parseLong(net.exec(net.serverNs(), Shell.bin("cat"), "/sys/class/net/" + TestNet.SWITCHED_DEV + "/statistics/rx_packets").trim());
    }

    private Process startProxy(TestNet net, Path log, String listen, String backend, boolean ring) throws Exception {
        // As users run it (./synproxy's JVM flags and malloc arenas), so that the RSS columns are what they would see.
        List<String> cmd = new ArrayList<>(List.of(Shell.bin("env"), "MALLOC_ARENA_MAX=2", settings.java()));
        cmd.addAll(Relay.DAEMON_JVM_FLAGS);
        String extra = System.getProperty(PROXY_FLAGS_PROPERTY, "").strip();
        if (!extra.isEmpty()) {
            cmd.addAll(List.of(extra.split("\\s+")));
        }
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED",
                "-Xlog:gc*,safepoint:file=" + log.resolveSibling("synproxy-gc.log")));
        // The proxy's tuning properties (-Dsynproxy.txRing=false, -Dsynproxy.spinMicros=0) given to the bench.
        System.getProperties().stringPropertyNames().stream().filter(k -> k.startsWith("synproxy.")).sorted()
                .forEach(k -> cmd.add("-D" + k + "=" + System.getProperty(k)));
        cmd.addAll(List.of("-cp", settings.jar().toString(), "io.synproxy.cli.Main",
                "run", "--listen", listen, "--backend", backend, "--stats-interval", "1s"));
        if (ring) {
            // The ring scenario is the repair handoff's (auto comes to it there): the kernel's needs the program at tc.
            cmd.addAll(List.of("--syn-path", "ring"));
        } else {
            cmd.addAll(settings.handoffArgs());
        }
        String args = System.getProperty(PROXY_ARGS_PROPERTY, "").strip();
        if (!args.isEmpty()) {
            cmd.addAll(List.of(args.split("\\s+")));
        }
        Process p = net.start(net.serverNs(), ProcessBuilder.Redirect.appendTo(log.toFile()), cmd.toArray(String[]::new));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            String out = Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
            if (out.contains("synproxy: protecting")) {
                // Where its SYNs are answered, as the proxy said it: auto may have fallen back to the ring.
                int at = out.indexOf("SYNs answered");
                String clause = "SYNs answered from the capture ring";
                if (at >= 0) {
                    // The clause runs to ", backend" in the start line; to the line's end if a later version moves it.
                    clause = out.substring(at).lines().findFirst().orElse("");
                    int end = clause.indexOf(", backend");
                    clause = end < 0 ? clause : clause.substring(0, end);
                }
                progress.accept(log.getFileName() + ": " + clause);
                return p;
            }
            if (!p.isAlive()) {
                // Its first line says why (the rest may be a usage text); the log keeps the whole of it.
                String why = out.strip().lines().findFirst().orElse("no output");
                throw new IOException("synproxy did not start: " + why + " (the whole output in " + log + ")");
            }
            Thread.sleep(50);
        }
        throw new IOException("synproxy did not start within 30 s: " + Files.readString(log).trim());
    }

    static void awaitHttp(TestNet net, String url, Process nginx, Process proxy) throws Exception {
        URI uri = URI.create(url);
        InetSocketAddress addr = new InetSocketAddress(uri.getHost(), uri.getPort() < 0 ? 80 : uri.getPort());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        String last = "";
        while (System.nanoTime() < deadline) {
            if (!nginx.isAlive()) {
                throw new IOException("nginx exited " + nginx.exitValue());
            }
            if (proxy != null && !proxy.isAlive()) {
                throw new IOException("the proxy in front of nginx exited " + proxy.exitValue());
            }
            last = net.in(net.clientNs(), () -> httpGet(addr));
            if (last.startsWith("HTTP/1.1 200")) {
                return;
            }
            Thread.sleep(100);
        }
        throw new IOException("no HTTP answer from " + url + ": " + last);
    }

    /** One blocking GET; returns the status line, or the error. Call it on a thread in the client's namespace. */
    static String httpGet(InetSocketAddress addr) {
        try (Socket s = new Socket()) {
            s.connect(addr, 1000);
            s.setSoTimeout(2000);
            s.getOutputStream().write(("GET / HTTP/1.1\r\nHost: " + addr.getHostString()
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            int eol = response.indexOf('\r');
            return eol < 0 ? response : response.substring(0, eol);
        } catch (IOException e) {
            return e.toString();
        }
    }
}
