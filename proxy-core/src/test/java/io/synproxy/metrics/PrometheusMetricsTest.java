package io.synproxy.metrics;

import io.synproxy.packet.Reject;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrometheusMetricsTest {
    private static final Pattern NAME = Pattern.compile("synproxy_[a-z0-9_]+");

    @Test
    void shouldExportEveryCounterUnderAPrometheusName() {
        Set<String> seen = new HashSet<>();
        for (Counter c : Counter.values()) {
            PrometheusMetrics.Export e = PrometheusMetrics.export(c);
            if (c == Counter.PACKETS_REJECTED) {
                assertEquals(null, e, "the sum of rejected_frames by reason");
                continue;
            }
            assertNotNull(e);
            assertTrue(NAME.matcher(e.family()).matches(), e.family());
            assertTrue(!e.family().endsWith("_total"), "the exposition adds _total: " + e.family());
            String key = e.family() + "{" + e.labelName() + "=" + e.labelValue() + "}";
            assertTrue(seen.add(key), "two counters under " + key);
        }
    }

    @Test
    void shouldServeSummedCountersGaugeAndHistogramsOverHttp() throws IOException, InterruptedException {
        Counters a = new Counters();
        Counters b = new Counters();
        a.add(Counter.SYN_RECEIVED, 3);
        b.add(Counter.SYN_RECEIVED, 4);
        a.increment(Counter.SYN_DENIED);
        b.add(Counter.BYTES_TO_CLIENT, 1500);
        a.reject(Reject.BAD_TCP_CHECKSUM);
        PrometheusMetrics metrics = new PrometheusMetrics();
        metrics.stats(new Stats(List.of(a, b), () -> 5));
        metrics.backendReady(2_000_000, 3_000_000);
        metrics.ringWait(0);
        metrics.ringWait(37);

        try (PrometheusEndpoint endpoint = PrometheusEndpoint.start(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), metrics)) {
            HttpClient client = HttpClient.newHttpClient();
            URI uri = URI.create("http://127.0.0.1:" + endpoint.port() + "/metrics");
            String text = client.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString()).body();
            assertTrue(text.contains("synproxy_syns_received_total 7.0"), text);
            assertTrue(text.contains("synproxy_denied_total{stage=\"syn\"} 1.0"), text);
            assertTrue(text.contains("synproxy_relayed_bytes_total{direction=\"to_client\"} 1500.0"), text);
            assertTrue(text.contains("synproxy_rejected_frames_total{reason=\"bad_tcp_checksum\"} 1.0"), text);
            assertTrue(text.contains("synproxy_live_connections 5.0"), text);
            assertTrue(text.contains("synproxy_backend_connect_duration_seconds_bucket{le=\"0.0025\"} 1"), text);
            assertTrue(text.contains("synproxy_handoff_to_backend_ready_seconds_count 1"), text);
            assertTrue(text.contains("synproxy_ring_wait_seconds_bucket{le=\"0.001\"} 1"), text);
            assertTrue(text.contains("synproxy_ring_wait_seconds_bucket{le=\"0.05\"} 2"), text);
            assertTrue(text.contains("synproxy_ring_wait_seconds_count 2"), text);
            assertTrue(text.contains("# TYPE synproxy_syns_received_total counter")
                    || text.contains("# TYPE synproxy_syns_received counter"), text);

            HttpResponse<String> open = client.send(HttpRequest.newBuilder(uri)
                    .header("Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8").build(),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(open.headers().firstValue("Content-Type").orElse("").startsWith("application/openmetrics-text"));
            assertTrue(open.body().trim().endsWith("# EOF"), open.body());

            HttpResponse<String> proto = client.send(HttpRequest.newBuilder(uri)
                    .header("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                            + "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3").build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, proto.statusCode(), "a scraper asking for protobuf gets an answer");
            assertTrue(proto.headers().firstValue("Content-Type").orElse("").contains("protobuf"));
        }
    }

    @Test
    void shouldServeOnlyTheHistogramsBeforeTheCountersAreBound() {
        PrometheusMetrics metrics = new PrometheusMetrics();
        assertEquals(3, metrics.registry().scrape().size());
    }
}
