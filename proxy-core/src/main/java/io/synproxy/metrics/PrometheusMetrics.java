package io.synproxy.metrics;

import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;
import io.synproxy.packet.Reject;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

/**
 * The proxy's counters as Prometheus metric families, read from the per-loop {@link Counters} at scrape time:
 * the packet path keeps its opaque single-writer stores and never sees a lock or an allocation for metrics.
 *
 * <p>Names follow Prometheus conventions: {@code synproxy_} prefix, counters end in {@code _total}, base units
 * (bytes, seconds), and labels take a fixed, small set of values (reason, cause, direction, result, stage),
 * never an address. A counter without a mapping here is still exported, as {@code synproxy_<label>_total}.
 * Two histograms are recorded by the relay through {@link BackendTimings}: the backend connect time and the
 * time from the handoff of a verified final ACK to the backend connection being ready. A third by the front end
 * through {@link RingWaits}: how long packets wait in the capture ring.
 */
public final class PrometheusMetrics implements MultiCollector, BackendTimings, RingWaits {
    /** Buckets from 100 µs to 10 s: a local backend connects in well under a millisecond, a distant one in tens. */
    static final double[] BUCKETS_SECONDS = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
        0.25, 0.5, 1, 2.5, 5, 10};

    /**
     * Buckets of the ring wait from 1 ms (the resolution of the clocks compared) to 5 s: a loop that keeps up
     * starts its drains on frames under a millisecond old; tens of milliseconds mean it runs behind a flood.
     */
    static final double[] RING_WAIT_BUCKETS_SECONDS = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};

    private static final double NANOS_PER_SECOND = 1e9;
    private static final double MILLIS_PER_SECOND = 1e3;
    private static final Map<Counter, Export> EXPORTS = exports();

    private volatile Stats stats;
    private volatile LoopGauges loops;
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Histogram connect;
    private final Histogram ready;
    private final Histogram ringWait;

    /** A counter's place: its family, and the one label that tells it from its siblings (or none). */
    record Export(String family, String help, String labelName, String labelValue) {
    }

    /** The histograms exist at once (the relays record into them); the counters once {@link #stats} is given. */
    public PrometheusMetrics() {
        registry.register(this);
        connect = Histogram.builder().name("synproxy_backend_connect_duration_seconds")
                .help("time from starting a backend connection to its success").unit(Unit.SECONDS)
                .classicOnly().classicUpperBounds(BUCKETS_SECONDS).register(registry);
        ready = Histogram.builder().name("synproxy_handoff_to_backend_ready_seconds")
                .help("time from the handoff of a verified final ACK to its backend connection being ready")
                .unit(Unit.SECONDS).classicOnly().classicUpperBounds(BUCKETS_SECONDS).register(registry);
        ringWait = Histogram.builder().name("synproxy_ring_wait_seconds")
                .help("age of the first frame of each capture ring drain: how long packets wait before the front end"
                        + " reads them")
                .unit(Unit.SECONDS).classicOnly().classicUpperBounds(RING_WAIT_BUCKETS_SECONDS).register(registry);
    }

    /** The counters to export: every loop's, summed at scrape time. */
    public void stats(Stats s) {
        stats = s;
    }

    /**
     * The event loops' gauges: each loop's live relays ({@code synproxy_loop_live_connections}, by {@code loop}), and
     * how many loops new connections go to ({@code synproxy_loops_taking_connections}: all of them unless
     * {@code --pack-loops} packs them).
     */
    public void loops(Supplier<long[]> live, IntSupplier taking) {
        loops = new LoopGauges(live, taking);
    }

    private record LoopGauges(Supplier<long[]> live, IntSupplier taking) {
    }

    /** The registry holding these families and the histograms, for the HTTP exporter. */
    public PrometheusRegistry registry() {
        return registry;
    }

    @Override
    public void backendReady(long connectNanos, long sinceHandoffNanos) {
        connect.observe(connectNanos / NANOS_PER_SECOND);
        ready.observe(sinceHandoffNanos / NANOS_PER_SECOND);
    }

    @Override
    public void ringWait(long millis) {
        ringWait.observe(millis / MILLIS_PER_SECOND);
    }

    @Override
    public MetricSnapshots collect() {
        Stats stats = this.stats;
        if (stats == null) {
            return new MetricSnapshots();
        }
        Map<String, CounterSnapshot.Builder> families = new LinkedHashMap<>();
        for (Counter c : Counter.values()) {
            Export e = export(c);
            if (e == null) {
                continue;
            }
            CounterDataPointSnapshot.Builder point = CounterDataPointSnapshot.builder().value(stats.get(c));
            if (e.labelName() != null) {
                point.labels(Labels.of(e.labelName(), e.labelValue()));
            }
            family(families, e.family(), e.help()).dataPoint(point.build());
        }
        CounterSnapshot.Builder rejected = family(families, "synproxy_rejected_frames",
                "frames the parsers rejected as malformed or not ours, by reason");
        for (Reject r : Reject.values()) {
            if (r != Reject.NONE) {
                rejected.dataPoint(CounterDataPointSnapshot.builder().value(stats.get(r))
                        .labels(Labels.of("reason", r.label())).build());
            }
        }
        List<MetricSnapshot> out = new ArrayList<>();
        for (CounterSnapshot.Builder b : families.values()) {
            out.add(b.build());
        }
        out.add(GaugeSnapshot.builder().name("synproxy_live_connections").help("relayed connections open now")
                .dataPoint(GaugeDataPointSnapshot.builder().value(stats.live()).build()).build());
        LoopGauges loops = this.loops;
        if (loops != null) {
            GaugeSnapshot.Builder perLoop = GaugeSnapshot.builder().name("synproxy_loop_live_connections")
                    .help("relayed connections open now, by the event loop that serves them");
            long[] live = loops.live().get();
            for (int i = 0; i < live.length; i++) {
                perLoop.dataPoint(GaugeDataPointSnapshot.builder().value(live[i])
                        .labels(Labels.of("loop", Integer.toString(i))).build());
            }
            out.add(perLoop.build());
            out.add(GaugeSnapshot.builder().name("synproxy_loops_taking_connections")
                    .help("event loops that new connections go to (--pack-loops: as few as carry them)")
                    .dataPoint(GaugeDataPointSnapshot.builder().value(loops.taking().getAsInt()).build()).build());
        }
        return new MetricSnapshots(out);
    }

    /** Where a counter is exported; null for one that is the sum of others (rejected frames). */
    static Export export(Counter c) {
        if (c == Counter.PACKETS_REJECTED) {
            return null;
        }
        Export e = EXPORTS.get(c);
        return e != null ? e : new Export("synproxy_" + c.label(), c.description(), null, null);
    }

    private static CounterSnapshot.Builder family(Map<String, CounterSnapshot.Builder> families, String name,
                                                  String help) {
        return families.computeIfAbsent(name, n -> CounterSnapshot.builder().name(n).help(help));
    }

    private static Map<Counter, Export> exports() {
        Map<Counter, Export> m = new EnumMap<>(Counter.class);
        m.put(Counter.RING_PACKETS, new Export("synproxy_ring_frames", "frames read from the capture rings", null, null));
        m.put(Counter.RING_DROPS, new Export("synproxy_ring_drops", "frames the kernel dropped on full capture rings",
                null, null));
        m.put(Counter.SYN_RECEIVED, new Export("synproxy_syns_received", "SYNs seen", null, null));
        String synAcks = "cookie SYN/ACKs, by whether the raw socket sent them";
        m.put(Counter.SYNACK_SENT, new Export("synproxy_synacks", synAcks, "result", "sent"));
        m.put(Counter.SYNACK_SEND_FAILED, new Export("synproxy_synacks", synAcks, "result", "failed"));
        String acks = "ACKs with no live connection, by whether their cookie was valid";
        m.put(Counter.ACK_VALID, new Export("synproxy_final_acks", acks, "result", "valid"));
        m.put(Counter.ACK_INVALID, new Export("synproxy_final_acks", acks, "result", "invalid"));
        m.put(Counter.HANDOFFS, new Export("synproxy_handoffs", "connections handed to the relay (built with "
                + "TCP_REPAIR, or by the kernel with --handoff kernel)", null, null));
        m.put(Counter.HANDOFF_FAILED, new Export("synproxy_handoff_failures", "handoffs the kernel refused",
                null, null));
        m.put(Counter.BACKEND_CONNECT_FAILED, new Export("synproxy_backend_connect_failures",
                "backend connections that failed, any cause", null, null));
        String causes = "backend connections that failed, for the causes told apart";
        m.put(Counter.BACKEND_REFUSED, new Export("synproxy_backend_connect_failure_causes", causes, "cause",
                "refused"));
        m.put(Counter.BACKEND_TIMEOUT, new Export("synproxy_backend_connect_failure_causes", causes, "cause",
                "timeout"));
        m.put(Counter.CONNECTIONS_CLOSED, new Export("synproxy_connections_closed", "relayed connections closed, "
                + "any cause", null, null));
        String closes = "relayed connections closed, for the causes told apart";
        m.put(Counter.BACKEND_RESET, new Export("synproxy_connection_close_causes", closes, "cause", "backend_reset"));
        m.put(Counter.CLIENT_RESET, new Export("synproxy_connection_close_causes", closes, "cause", "client_reset"));
        m.put(Counter.IDLE_CLOSED, new Export("synproxy_connection_close_causes", closes, "cause", "idle_timeout"));
        m.put(Counter.DRAIN_CLOSED, new Export("synproxy_connection_close_causes", closes, "cause", "drain_deadline"));
        m.put(Counter.RELAY_NO_MEMORY, new Export("synproxy_connection_close_causes", closes, "cause", "no_memory"));
        String bytes = "bytes relayed, by direction";
        m.put(Counter.BYTES_TO_BACKEND, new Export("synproxy_relayed_bytes", bytes, "direction", "to_backend"));
        m.put(Counter.BYTES_TO_CLIENT, new Export("synproxy_relayed_bytes", bytes, "direction", "to_client"));
        String refused = "valid final ACKs answered with an in-sequence RST (with --handoff kernel: connections reset "
                + "at accept), by the limit that refused them";
        m.put(Counter.LIMIT_RST, new Export("synproxy_refused_connections", refused, "reason", "max_connections"));
        m.put(Counter.DRAIN_RST, new Export("synproxy_refused_connections", refused, "reason", "draining"));
        m.put(Counter.SOURCE_LIMIT_RST, new Export("synproxy_refused_connections", refused, "reason",
                "source_connections"));
        m.put(Counter.SOURCE_RATE_RST, new Export("synproxy_refused_connections", refused, "reason", "source_rate"));
        String denied = "segments of denied or not allowed sources left unanswered, by handshake stage";
        m.put(Counter.SYN_DENIED, new Export("synproxy_denied", denied, "stage", "syn"));
        m.put(Counter.ACK_DENIED, new Export("synproxy_denied", denied, "stage", "final_ack"));
        String invalid = "invalid final ACKs, by whether they were answered with RST or the rate limit held it back";
        m.put(Counter.INVALID_ACK_RST, new Export("synproxy_invalid_ack_resets", invalid, "result", "sent"));
        m.put(Counter.INVALID_ACK_RST_LIMITED, new Export("synproxy_invalid_ack_resets", invalid, "result",
                "rate_limited"));
        m.put(Counter.ACK_HOST_SOCKET, new Export("synproxy_host_socket_segments", "ACKs of connections another "
                + "instance on this host handed off, left to the kernel's socket", null, null));
        m.put(Counter.SOURCE_TABLE_FULL, new Export("synproxy_source_table_full", "connections admitted untracked "
                + "because the per-source table was full", null, null));
        m.put(Counter.ACK_LIVE, new Export("synproxy_live_segments", "segments of live connections seen by the "
                + "capture (the kernel handles them)", null, null));
        m.put(Counter.SEGMENTS_AFTER_CLOSE, new Export("synproxy_late_segments", "segments of connections already "
                + "closed (the kernel handles them)", null, null));
        m.put(Counter.OTHER_SEGMENTS, new Export("synproxy_other_segments", "RST, FIN and other segments with no "
                + "live connection", null, null));
        m.put(Counter.REPLAY_LIVE, new Export("synproxy_replayed_final_acks", "final ACKs repeated for a live "
                + "connection", null, null));
        m.put(Counter.EARLY_DATA, new Export("synproxy_early_data_segments", "with --no-zero-window, data segments "
                + "sent before the client heard from its new socket, passed to that socket again", null, null));
        m.put(Counter.CAPTURE_SHORT, new Export("synproxy_capture_short_frames", "packets larger than a ring frame, "
                + "captured short and left to the kernel", null, null));
        m.put(Counter.EARLY_DATA_HELD, new Export("synproxy_early_data_held_segments", "with --no-zero-window, data "
                + "segments of a client's first window its new socket already had: not sent again", null, null));
        m.put(Counter.HANDOFF_SEND_FAILED, new Export("synproxy_handoff_send_failures", "segments of a handoff the "
                + "raw socket refused: window update, timestamp echo, re-sent early data", null, null));
        m.put(Counter.DRAIN_SYN, new Export("synproxy_drain_unanswered_syns", "SYNs left unanswered while draining",
                null, null));
        return m;
    }
}
