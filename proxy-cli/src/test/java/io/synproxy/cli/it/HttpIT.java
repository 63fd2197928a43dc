package io.synproxy.cli.it;

import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The deployment a user checks first: curl through synproxy to a real nginx. The proxy listens
 * on 0.0.0.0 (the sidecar mode) and the server host has two addresses, so each handoff must bind
 * to the address its SYN was sent to.
 */
@RequiresRoot(tools = {"nft", "curl", "nginx", "ss", "wrk"})
class HttpIT {
    private static final String SECOND_IP = "10.200.0.3";
    private static final int REQUESTS = 50;

    @Test
    void shouldServeCurlThroughTheProxyOnEveryLocalAddressFromNginx() throws Exception {
        Path dir = Files.createTempDirectory("synproxy-nginx-");
        try (TestNet net = TestNet.pair()) {
            net.exec(net.serverNs(), "ip", "addr", "add", SECOND_IP + "/24", "dev", net.serverDev());
            String body = "synproxy-http-it " + System.nanoTime();
            Files.writeString(dir.resolve("index.html"), body);
            Files.writeString(dir.resolve("nginx.conf"), """
                    daemon off;
                    master_process off;
                    worker_processes 1;
                    pid %1$s/nginx.pid;
                    error_log %1$s/error.log;
                    events { worker_connections 1024; }
                    http {
                        access_log off;
                        client_body_temp_path %1$s;
                        proxy_temp_path %1$s;
                        fastcgi_temp_path %1$s;
                        uwsgi_temp_path %1$s;
                        scgi_temp_path %1$s;
                        server {
                            listen 127.0.0.1:8081;
                            listen %2$s:8082;
                            root %1$s;
                        }
                    }
                    """.formatted(dir, TestNet.SERVER_IP));
            Process nginx = net.start(net.serverNs(), ProcessBuilder.Redirect.DISCARD,
                    "nginx", "-c", dir.resolve("nginx.conf").toString(), "-p", dir.toString());
            try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", "0.0.0.0:8080",
                    "--backend", "127.0.0.1:8081", "--stats-interval", "1s")) {
                proxy.awaitStarted();
                assertTrue(proxy.output().contains("all interfaces"), proxy.output());
                waitForHttp(net, "http://" + TestNet.SERVER_IP + ":8082/");

                double[] direct = curl(net, "http://" + TestNet.SERVER_IP + ":8082/", body);
                double[] first = curl(net, "http://" + TestNet.SERVER_IP + ":8080/", body);
                double[] second = curl(net, "http://" + SECOND_IP + ":8080/", body);
                System.out.printf("HttpIT: curl time to first byte p50, %d requests each: direct to nginx %.2f ms, "
                                + "through synproxy via %s %.2f ms, via %s %.2f ms%n", REQUESTS,
                        median(direct), TestNet.SERVER_IP, median(first), SECOND_IP, median(second));
                assertEquals(2 * REQUESTS, proxy.nextStats(Duration.ofSeconds(5)).get("handoffs"));

                // nginx closes after a Connection: close response and wrk closes as soon as it has read it. Direct,
                // nginx's FIN comes with the response, so the server keeps the TIME_WAIT. Through the proxy the FIN
                // must come with the response too: passed on later, the client closes first and keeps TIME_WAIT
                // (about half of the connections before the fix), which exhausts a busy client's ports in seconds.
                // The curl runs above left their own TIME_WAITs (curl closes first): only wrk's are counted, or on a
                // busy machine, where wrk makes fewer requests, those 100 alone would pass the 10% bound.
                long directBefore = timeWait(net, 8082);
                long directRequests = wrkClose(net, "http://" + TestNet.SERVER_IP + ":8082/");
                long directTimeWait = timeWait(net, 8082) - directBefore;
                long proxiedBefore = timeWait(net, 8080);
                Map<String, Long> statsBefore = proxy.lastStats();
                long proxiedRequests;
                try {
                    proxiedRequests = wrkClose(net, "http://" + TestNet.SERVER_IP + ":8080/");
                } catch (AssertionError e) {
                    // A failed or reset relay shows in these counters (a lost backend connect was the forced splice
                    // mode's bug).
                    Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
                    throw new AssertionError(e.getMessage() + "\nproxy counters during wrk: " + delta(statsBefore, after),
                            e);
                }
                long proxiedTimeWait = timeWait(net, 8080) - proxiedBefore;
                System.out.printf("HttpIT: wrk, a connection per request: the client kept TIME_WAIT for %d of %d "
                        + "direct, %d of %d through synproxy%n", directTimeWait, directRequests, proxiedTimeWait,
                        proxiedRequests);
                assertTrue(proxiedRequests >= 100, "wrk made only " + proxiedRequests + " requests");
                assertTrue(proxiedTimeWait * 10 <= proxiedRequests, "client TIME_WAIT for " + proxiedTimeWait
                        + " of " + proxiedRequests + " connections through the proxy");
            } finally {
                nginx.destroy();
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Runs wrk for two seconds with a new connection per request; returns how many requests completed. */
    private static long wrkClose(TestNet net, String url) throws IOException {
        String out = net.exec(net.clientNs(), "wrk", "-t", "1", "-c", "4", "-d", "2s", "-H", "Connection: close", url);
        Matcher m = Pattern.compile("(\\d+) requests in").matcher(out);
        assertTrue(m.find(), out);
        assertTrue(!out.contains("Non-2xx") && !out.contains("Socket errors"), out);
        return Long.parseLong(m.group(1));
    }

    /** The relay's failure counters moved between two stats lines. */
    private static String delta(Map<String, Long> before, Map<String, Long> after) {
        StringBuilder b = new StringBuilder();
        for (String k : List.of("backend_failed", "backend_reset", "client_reset", "handoff_failed", "splice_fallback",
                "spliced")) {
            b.append(k).append('=').append(after.getOrDefault(k, 0L) - before.getOrDefault(k, 0L)).append(' ');
        }
        return b.toString().trim();
    }

    /** Client sockets in TIME_WAIT towards the server's {@code port}. */
    private static long timeWait(TestNet net, int port) throws IOException {
        String out = net.exec(net.clientNs(), "ss", "-Htan", "state", "time-wait", "dport", "=", ":" + port);
        return out.lines().filter(l -> !l.isBlank()).count();
    }

    private static void waitForHttp(TestNet net, String url) throws Exception {
        for (int i = 0; i < 50; i++) {
            try {
                net.exec(net.clientNs(), "curl", "-sf", "-o", "/dev/null", "-m", "1", url);
                return;
            } catch (IOException notYet) {
                Thread.sleep(100);
            }
        }
        throw new AssertionError("nginx did not come up at " + url);
    }

    /** Runs curl REQUESTS times; every response must be the body. Returns the times to first byte in ms. */
    private static double[] curl(TestNet net, String url, String body) throws IOException {
        double[] ms = new double[REQUESTS];
        for (int i = 0; i < REQUESTS; i++) {
            String out = net.exec(net.clientNs(), "curl", "-sS", "-m", "5", "-w", "\n%{time_starttransfer}", url);
            int nl = out.lastIndexOf('\n');
            assertEquals(body, out.substring(0, nl), "response " + i + " from " + url);
            ms[i] = Double.parseDouble(out.substring(nl + 1).trim()) * 1000;
        }
        return ms;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
