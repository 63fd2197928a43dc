package io.synproxy.metrics;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * {@code --metrics IP:PORT}: serves {@link PrometheusMetrics} at {@code /metrics} (the text format, OpenMetrics
 * when the scraper asks for it) on one daemon thread, far from the event loops.
 */
public final class PrometheusEndpoint implements AutoCloseable {
    private final HTTPServer server;
    private final ExecutorService executor;

    private PrometheusEndpoint(HTTPServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /**
     * Starts serving.
     *
     * @throws IOException when the address cannot be bound
     */
    public static PrometheusEndpoint start(InetSocketAddress address, PrometheusMetrics metrics) throws IOException {
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "synproxy-metrics");
            t.setDaemon(true);
            return t;
        });
        try {
            HTTPServer server = HTTPServer.builder().inetAddress(address.getAddress()).port(address.getPort())
                    .registry(metrics.registry()).executorService(executor).buildAndStart();
            return new PrometheusEndpoint(server, executor);
        } catch (IOException | RuntimeException e) {
            executor.shutdownNow();
            throw e instanceof IOException io ? io : new IOException(e.getMessage(), e);
        }
    }

    /** The bound port (useful with port 0). */
    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        server.close();
        executor.shutdownNow();
    }
}
