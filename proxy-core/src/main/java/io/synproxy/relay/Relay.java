package io.synproxy.relay;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.Future;
import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counters;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Locale;

/**
 * Adopts handed-off sockets and relays them to the backend, on one event loop. The work is done by
 * {@link FdRelay}, which drives both sockets of a connection as raw descriptors on the loop's epoll; the relay
 * built on Netty channels ({@link NettyRelay}) is kept for comparison with
 * {@code -Dsynproxy.relay.engine=netty}.
 */
public final class Relay implements ConnectionSink {
    /** The system property that picks the engine: {@code fd} (the default) or {@code netty}. */
    public static final String ENGINE_PROPERTY = "synproxy.relay.engine";

    private final RelaySettings settings;
    private final RelayEngine engine;

    /**
     * @param timings where each backend connection's connect time is reported (the metrics' histograms), or
     *                {@link BackendTimings#NONE}
     */
    public Relay(EventLoop loop, RelaySettings settings, Counters counters, BackendTimings timings) {
        this.settings = settings;
        String name = System.getProperty(ENGINE_PROPERTY, "fd").trim().toLowerCase(Locale.ROOT);
        this.engine = switch (name) {
            case "netty" -> new NettyRelay(loop, settings, counters, timings);
            case "fd", "" -> new FdRelay(loop, settings, counters, timings);
            default -> throw new IllegalArgumentException(ENGINE_PROPERTY + " must be fd or netty, not '" + name + "'");
        };
    }

    public RelaySettings settings() {
        return settings;
    }

    /** Closes every relay still open (the end of a drain), counting each, on the relay's loop; completes with how many. */
    public Future<Integer> closeAll() {
        return engine.closeAll();
    }

    /** Closes the idle splice pipes and the loop's buffers; call once the loop has stopped. */
    public void close() {
        engine.close();
    }

    @Override
    public void adopt(int fd, AckVerdict verdict, Runnable onClose) {
        engine.adopt(fd, verdict, onClose, null);
    }

    @Override
    public void adopt(int fd, AckVerdict verdict, Runnable onClose, Runnable beforeFirstReply) {
        engine.adopt(fd, verdict, onClose, beforeFirstReply);
    }

    /** The address of a 128-bit pair (IPv4 as {@code ::ffff:a.b.c.d}, which gives an Inet4Address) and port. */
    static InetSocketAddress socketAddress(long hi, long lo, int port) {
        byte[] ip = new byte[16];
        for (int i = 0; i < 8; i++) {
            ip[i] = (byte) (hi >>> (56 - 8 * i));
            ip[8 + i] = (byte) (lo >>> (56 - 8 * i));
        }
        try {
            return new InetSocketAddress(InetAddress.getByAddress(ip), port);
        } catch (UnknownHostException e) {
            throw new IllegalStateException("16 bytes are always an address", e);
        }
    }
}
