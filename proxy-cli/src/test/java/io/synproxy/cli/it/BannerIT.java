package io.synproxy.cli.it;

import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Server-speaks-first protocols (SSH, SMTP, FTP): the backend writes a banner as soon as it
 * accepts, before reading anything, and the client reads it without having sent a byte. Through
 * synproxy the client's handshake ends with a bare final ACK (no data rides on it), so the handoff,
 * the backend connection and the banner must all follow from that ACK alone.
 */
@RequiresRoot(tools = {"nft"})
class BannerIT {
    private static final int BANNER_PORT = 9025;
    private static final int CONNECTIONS = 50;

    @Test
    void shouldDeliverTheBackendsBannerBeforeTheClientSendsAnything() throws Exception {
        try (TestNet net = TestNet.pair();
             BannerBackend backend = BannerBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + BANNER_PORT, "--stats-interval", "500ms")) {
            proxy.awaitStarted();
            Map<String, Long> before = net.tcpCounters(net.clientNs());
            for (int i = 0; i < CONNECTIONS; i++) {
                int n = i;
                String reply = net.inClientNow(() -> {
                    try (Socket s = new Socket()) {
                        s.setSoTimeout(10_000);
                        s.connect(Clients.PROXY, 5000);
                        BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
                        // Nothing written yet: the banner must come on its own.
                        String banner = in.readLine();
                        assertEquals(BannerBackend.BANNER, banner, "banner of connection " + n);
                        Writer out = new OutputStreamWriter(s.getOutputStream(), StandardCharsets.US_ASCII);
                        out.write("EHLO client-" + n + "\r\n");
                        out.flush();
                        return in.readLine();
                    }
                });
                assertEquals("250 hello client-" + n, reply);
            }
            Map<String, Long> after = net.tcpCounters(net.clientNs());
            assertEquals(CONNECTIONS, backend.accepted());
            Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
            System.out.printf("BannerIT: %d banners received through synproxy before the client sent a byte; "
                            + "client retransmissions %d, proxy stats %s%n", CONNECTIONS,
                    after.get("Tcp:RetransSegs") - before.get("Tcp:RetransSegs"), stats);
            assertTrue(stats.get("handoffs") >= CONNECTIONS, stats.toString());
            assertEquals(0, stats.get("backend_failed"), stats.toString());
        }
    }

    /** An SMTP-like backend: banner on accept, then one answer per line read. */
    static final class BannerBackend implements AutoCloseable {
        static final String BANNER = "220 synproxy-banner-it ESMTP ready";
        private final ServerSocket server;
        private final AtomicInteger accepted = new AtomicInteger();
        private final ExecutorService workers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "banner-backend");
            t.setDaemon(true);
            return t;
        });

        private BannerBackend(ServerSocket server) {
            this.server = server;
            workers.submit(this::acceptLoop);
        }

        static BannerBackend start(TestNet net) throws Exception {
            return new BannerBackend(net.inServerNow(() -> {
                ServerSocket ss = new ServerSocket();
                ss.setReuseAddress(true);
                ss.bind(new InetSocketAddress("127.0.0.1", BANNER_PORT), 128);
                return ss;
            }));
        }

        int accepted() {
            return accepted.get();
        }

        private Void acceptLoop() {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    accepted.incrementAndGet();
                    workers.submit(() -> serve(s));
                } catch (IOException e) {
                    return null;
                }
            }
            return null;
        }

        private Void serve(Socket s) {
            try (s) {
                OutputStream out = s.getOutputStream();
                out.write((BANNER + "\r\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
                String line;
                while ((line = in.readLine()) != null) {
                    out.write(("250 hello " + line.substring(line.indexOf(' ') + 1) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                }
            } catch (IOException e) {
                // The client went away.
            }
            return null;
        }

        @Override
        public void close() throws IOException {
            server.close();
            workers.shutdownNow();
        }
    }
}
