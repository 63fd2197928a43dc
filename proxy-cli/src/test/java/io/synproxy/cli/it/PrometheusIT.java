package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static io.synproxy.cli.it.OperationsIT.sample;
import static io.synproxy.cli.it.OperationsIT.scrape;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real Prometheus server (Debian's package, run directly with a configuration of our own) scrapes the proxy's
 * endpoint during echo traffic and SYN and ACK floods; its HTTP API then returns the proxy's counters, and
 * {@code promtool check metrics} accepts the exposition.
 */
@RequiresRoot(tools = {"nft", "hping3", "prometheus", "promtool"})
class PrometheusIT {
    private static final Pattern VALUE = Pattern.compile("\"value\":\\[[0-9.]+,\"([0-9.eE+-]+)\"\\]");

    @Test
    void shouldServeCountersThatPrometheusScrapesAndPromtoolAccepts() throws Exception {
        Path dir = Files.createTempDirectory("synproxy-prometheus-");
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), OperationsIT.run(
                     "--invalid-ack-rst-rate", "100/s"))) {
            proxy.awaitStarted();
            Path config = Files.writeString(dir.resolve("prometheus.yml"), """
                    global:
                      scrape_interval: 1s
                    scrape_configs:
                      - job_name: synproxy
                        static_configs:
                          - targets: ['127.0.0.1:%d']
                    """.formatted(OperationsIT.METRICS_PORT));
            Path log = dir.resolve("prometheus.log");
            Process prometheus = net.start(net.serverNs(), ProcessBuilder.Redirect.to(log.toFile()), "prometheus",
                    "--config.file=" + config, "--storage.tsdb.path=" + dir.resolve("data"),
                    "--web.listen-address=127.0.0.1:9090");
            awaitReady(net, prometheus, log);

            for (int i = 0; i < 20; i++) {
                int n = i;
                net.inClientNow(() -> Clients.echoOnce(n, 5000));
            }
            // Before the floods: a random ACK flood completes a handshake about once in 2^22 ACKs (the cookie's
            // 23-bit MAC, two keys), one in ten runs of this test, and that one is a handoff like any other.
            String clientsOnly = scrape(net);
            assertEquals(20, sample(clientsOnly, "synproxy_handoffs_total"));
            assertEquals(20, sample(clientsOnly, "synproxy_backend_connect_duration_seconds_count"));
            assertEquals(20, sample(clientsOnly, "synproxy_handoff_to_backend_ready_seconds_count"));
            assertEquals(20, backend.accepted());
            try (Hping syn = Hping.flood(net, "-S", 2)) {
                syn.process().waitFor(10, TimeUnit.SECONDS);
                System.out.printf("PrometheusIT: SYN flood of %d packets%n", syn.stop());
            }
            try (Hping ack = Hping.flood(net, "-A", 2)) {
                ack.process().waitFor(10, TimeUnit.SECONDS);
                System.out.printf("PrometheusIT: ACK flood of %d packets%n", ack.stop());
            }
            Thread.sleep(500);
            String text = scrape(net);
            System.out.println("PrometheusIT /metrics after the floods:\n" + text);
            long syns = sample(text, "synproxy_syns_received_total");
            assertTrue(syns > 1000, "the flood was seen: " + syns);

            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            double seen = -1;
            while (System.nanoTime() < deadline && seen != syns) {
                Thread.sleep(500);
                seen = query(net, "synproxy_syns_received_total");
            }
            assertEquals(syns, (long) seen, "Prometheus holds what the endpoint served");
            long handoffs = sample(text, "synproxy_handoffs_total");
            assertEquals(handoffs, (long) query(net, "synproxy_handoffs_total"));
            assertEquals(sample(text, "synproxy_final_acks_total{result=\"valid\"}"), handoffs);
            assertTrue(handoffs - 20 <= 2, "the floods completed " + (handoffs - 20) + " handshakes");
            assertEquals(handoffs, (long) query(net, "synproxy_backend_connect_duration_seconds_count"));
            assertEquals(handoffs, (long) query(net, "synproxy_handoff_to_backend_ready_seconds_count"));
            assertTrue(query(net, "synproxy_final_acks_total{result=\"invalid\"}") > 100);
            // One observation per drain that found frames: at least one, at most one per frame. The kernel's handoff
            // (what --handoff auto comes to on a host that can have it) captures nothing: none.
            double drains = query(net, "synproxy_ring_wait_seconds_count");
            if (proxy.output().contains("final ACKs handed to the kernel at tc")) {
                assertEquals(0, drains, "ring waits with nothing captured");
            } else {
                assertTrue(drains >= 1 && drains <= query(net, "synproxy_ring_frames_total"), "ring waits " + drains);
            }
            double sent = query(net, "synproxy_invalid_ack_resets_total{result=\"sent\"}");
            double held = query(net, "synproxy_invalid_ack_resets_total{result=\"rate_limited\"}");
            System.out.printf("PrometheusIT: invalid-ACK RSTs sent %.0f, held back %.0f%n", sent, held);
            assertTrue(sent >= 1 && sent <= 100 * 3 + 10, "at most the rate over the ACK flood (plus the burst)");
            assertTrue(held > 0);
            assertTrue(query(net, "sum(synproxy_synacks_total)") >= syns - 1);

            Process promtool = new ProcessBuilder("promtool", "check", "metrics").redirectErrorStream(true).start();
            promtool.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
            promtool.getOutputStream().close();
            String verdict = new String(promtool.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(promtool.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, promtool.exitValue(), "promtool check metrics: " + verdict);

            prometheus.destroy();
            prometheus.waitFor(10, TimeUnit.SECONDS);
            prometheus.destroyForcibly();
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void awaitReady(TestNet net, Process prometheus, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (!prometheus.isAlive()) {
                throw new AssertionError("prometheus exited: " + Files.readString(log));
            }
            try {
                if (get(net, "http://127.0.0.1:9090/-/ready").statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        throw new AssertionError("prometheus not ready: " + Files.readString(log));
    }

    private static HttpResponse<String> get(TestNet net, String uri) throws Exception {
        return net.inServerNow(() -> HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(uri)).build(),
                HttpResponse.BodyHandlers.ofString()));
    }

    /** One instant query through Prometheus's HTTP API; -1 when it has no sample. */
    private static double query(TestNet net, String promql) throws Exception {
        String body = get(net, "http://127.0.0.1:9090/api/v1/query?query="
                + URLEncoder.encode(promql, StandardCharsets.UTF_8)).body();
        Matcher m = VALUE.matcher(body);
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }
}
