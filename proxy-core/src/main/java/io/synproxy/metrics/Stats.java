package io.synproxy.metrics;

import io.synproxy.packet.Reject;

import java.util.List;
import java.util.function.LongSupplier;
import java.util.function.ToLongFunction;

/** Sums every loop's counters and formats the stats line. */
public final class Stats {
    /**
     * The operations counters (lists, per-source limits, RSTs to invalid final ACKs), shown under their labels only
     * when non-zero: they stay at zero unless those options are given, and the line is long enough.
     */
    private static final Counter[] WHEN_NONZERO = {Counter.BPF_SYNACK, Counter.BPF_DROPPED, Counter.SYN_DENIED, Counter.ACK_DENIED, Counter.SOURCE_LIMIT_RST,
        Counter.SOURCE_RATE_RST, Counter.SOURCE_TABLE_FULL, Counter.INVALID_ACK_RST, Counter.INVALID_ACK_RST_LIMITED,
        Counter.EARLY_DATA, Counter.EARLY_DATA_HELD, Counter.HANDOFF_SEND_FAILED, Counter.CAPTURE_SHORT};

    private final List<Counters> loops;
    private final LongSupplier liveConnections;
    private final ToLongFunction<Counter> elsewhere;

    public Stats(List<Counters> loops, LongSupplier liveConnections) {
        this(loops, liveConnections, c -> 0);
    }

    /**
     * @param elsewhere what is counted outside the loops (the BPF program's SYNs and SYN/ACKs), added to theirs
     */
    public Stats(List<Counters> loops, LongSupplier liveConnections, ToLongFunction<Counter> elsewhere) {
        this.loops = List.copyOf(loops);
        this.liveConnections = liveConnections;
        this.elsewhere = elsewhere;
    }

    public long get(Counter c) {
        long sum = elsewhere.applyAsLong(c);
        for (Counters loop : loops) {
            sum += loop.get(c);
        }
        return sum;
    }

    public long get(Reject reason) {
        long sum = 0;
        for (Counters loop : loops) {
            sum += loop.get(reason);
        }
        return sum;
    }

    public long live() {
        return liveConnections.getAsLong();
    }

    /** The one-line summary printed at the stats interval. */
    public String line() {
        StringBuilder b = new StringBuilder(200);
        b.append("stats: syn=").append(get(Counter.SYN_RECEIVED))
                .append(" synack=").append(get(Counter.SYNACK_SENT))
                .append(" synack_failed=").append(get(Counter.SYNACK_SEND_FAILED))
                .append(" ack_valid=").append(get(Counter.ACK_VALID))
                .append(" ack_invalid=").append(get(Counter.ACK_INVALID))
                .append(" handoffs=").append(get(Counter.HANDOFFS))
                .append(" late=").append(get(Counter.SEGMENTS_AFTER_CLOSE))
                .append(" live=").append(live())
                .append(" bytes=").append(get(Counter.BYTES_TO_BACKEND) + get(Counter.BYTES_TO_CLIENT))
                .append(" rejected=").append(get(Counter.PACKETS_REJECTED))
                .append(" martian=").append(get(Counter.MARTIAN_SOURCE))
                .append(" not_for_host=").append(get(Counter.NOT_FOR_HOST))
                .append(" handoff_failed=").append(get(Counter.HANDOFF_FAILED))
                .append(" backend_failed=").append(get(Counter.BACKEND_CONNECT_FAILED))
                .append(" ring_drops=").append(get(Counter.RING_DROPS))
                .append(" backend_refused=").append(get(Counter.BACKEND_REFUSED))
                .append(" backend_timeout=").append(get(Counter.BACKEND_TIMEOUT))
                .append(" backend_reset=").append(get(Counter.BACKEND_RESET))
                .append(" client_reset=").append(get(Counter.CLIENT_RESET))
                .append(" idle_closed=").append(get(Counter.IDLE_CLOSED))
                .append(" limit_rst=").append(get(Counter.LIMIT_RST))
                .append(" replay_live=").append(get(Counter.REPLAY_LIVE))
                .append(" ack_live=").append(get(Counter.ACK_LIVE))
                .append(" other=").append(get(Counter.OTHER_SEGMENTS))
                .append(" closed=").append(get(Counter.CONNECTIONS_CLOSED))
                .append(" drain_syn=").append(get(Counter.DRAIN_SYN))
                .append(" drain_rst=").append(get(Counter.DRAIN_RST))
                .append(" drain_closed=").append(get(Counter.DRAIN_CLOSED))
                .append(" tx_ring=").append(get(Counter.TX_RING))
                .append(" tx_fallback=").append(get(Counter.TX_FALLBACK))
                .append(" tx_drops=").append(get(Counter.TX_DROPS))
                .append(" spliced=").append(get(Counter.SPLICED))
                .append(" splice_fallback=").append(get(Counter.SPLICE_FALLBACK))
                .append(" handover_unread=").append(get(Counter.HANDOVER_UNREAD))
                .append(" ack_host_socket=").append(get(Counter.ACK_HOST_SOCKET));
        for (Counter c : WHEN_NONZERO) {
            long v = get(c);
            if (v != 0) {
                b.append(' ').append(c.label()).append('=').append(v);
            }
        }
        return b.toString();
    }
}
