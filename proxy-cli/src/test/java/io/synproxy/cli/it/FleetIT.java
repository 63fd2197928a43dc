package io.synproxy.cli.it;

import io.synproxy.cookie.SecretFile;
import io.synproxy.testsupport.RequiresRoot;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two instances that share a cookie secret serve one virtual IP: behind ECMP each serves the connections hashed to
 * it, and when a router sends the SYN to one and the rest to the other, the other completes every handshake
 * (cross-instance cookies). With different secrets, the split path completes none.
 */
@RequiresRoot(tools = {"nft", "ip", "sysctl"})
class FleetIT {
    private static final int CLIENTS = 120;

    /** Connections served, out of {@code n}, each with {@code timeoutMillis} to get its echo, 12 at a time. */
    private static int serve(Fleet fleet, int n, int timeoutMillis) throws Exception {
        List<Future<Boolean>> results = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int id = i;
            results.add(fleet.inClient(() -> {
                try {
                    Clients.echoOnce(Fleet.SERVICE, id, timeoutMillis);
                    return true;
                } catch (Exception e) {
                    return false;
                }
            }));
            if (i % 12 == 11) {
                Thread.sleep(20);
            }
        }
        int served = 0;
        for (Future<Boolean> f : results) {
            served += f.get() ? 1 : 0;
        }
        return served;
    }

    /** A backend on each instance, then a proxy on each with its secret file, both up. */
    private static ProxyProcess[] startBoth(Fleet fleet, Path secretA, Path secretB) throws Exception {
        fleet.backend(fleet.a());
        fleet.backend(fleet.b());
        ProxyProcess a = fleet.proxy(fleet.a(), "--secret-file", secretA.toString());
        ProxyProcess b = fleet.proxy(fleet.b(), "--secret-file", secretB.toString());
        a.awaitStarted(Duration.ofSeconds(90));
        b.awaitStarted(Duration.ofSeconds(90));
        return new ProxyProcess[] {a, b};
    }

    private static Map<String, Long> stop(ProxyProcess p) throws InterruptedException {
        int code = p.terminate(Duration.ofSeconds(30));
        assertTrue(code == 0 || code == 143, "exit code after SIGTERM: " + code + "\n" + p.output());
        return p.lastStats();
    }

    @Test
    void ecmpServesEveryClientAndBothInstancesServeSome() throws Exception {
        try (Fleet fleet = new Fleet()) {
            fleet.ecmp();
            Path secret = fleet.secretFile("secret", SecretFile.newFileText());
            ProxyProcess[] ab = startBoth(fleet, secret, secret);
            ProxyProcess a = ab[0];
            ProxyProcess b = ab[1];

            int served = serve(fleet, CLIENTS, 5_000);
            Map<String, Long> sa = stop(a);
            Map<String, Long> sb = stop(b);
            System.out.printf("ECMP: %d/%d served; handoffs A=%d B=%d%n", served, CLIENTS, sa.get("handoffs"),
                    sb.get("handoffs"));
            assertEquals(CLIENTS, served);
            assertTrue(sa.get("handoffs") > 0 && sb.get("handoffs") > 0, "both instances serve: " + sa + " / " + sb);
            assertEquals(CLIENTS, sa.get("handoffs") + sb.get("handoffs"));
        }
    }

    @Test
    void splitPathCompletesEveryHandshakeOnTheOtherInstance() throws Exception {
        try (Fleet fleet = new Fleet()) {
            fleet.splitPath();
            Path secret = fleet.secretFile("secret", SecretFile.newFileText());
            ProxyProcess[] ab = startBoth(fleet, secret, secret);
            ProxyProcess a = ab[0];
            ProxyProcess b = ab[1];

            int served = serve(fleet, CLIENTS, 5_000);
            Map<String, Long> sa = stop(a);
            Map<String, Long> sb = stop(b);
            System.out.printf("split path, shared secret: %d/%d served; A synack=%d handoffs=%d; B syn=%d "
                    + "handoffs=%d%n", served, CLIENTS, sa.get("synack"), sa.get("handoffs"), sb.get("syn"),
                    sb.get("handoffs"));
            assertEquals(CLIENTS, served);
            assertEquals(0, sb.get("syn"), "B saw no SYN: the split works");
            assertEquals(0, sa.get("handoffs"));
            assertEquals(CLIENTS, sb.get("handoffs"));
        }
    }

    @Test
    void splitPathCompletesNoneWithDifferentSecrets() throws Exception {
        try (Fleet fleet = new Fleet()) {
            fleet.splitPath();
            ProxyProcess[] ab = startBoth(fleet, fleet.secretFile("one", SecretFile.newFileText()),
                    fleet.secretFile("two", SecretFile.newFileText()));
            ProxyProcess a = ab[0];
            ProxyProcess b = ab[1];

            int n = 24;
            int served = serve(fleet, n, 2_000);
            Map<String, Long> sa = stop(a);
            Map<String, Long> sb = stop(b);
            System.out.printf("split path, different secrets: %d/%d served; A synack=%d; B ack_invalid=%d "
                    + "handoffs=%d%n", served, n, sa.get("synack"), sb.get("ack_invalid"), sb.get("handoffs"));
            assertEquals(0, served);
            assertTrue(sa.get("synack") >= n, "A answered the SYNs: " + sa);
            assertEquals(0, sb.get("handoffs"));
            assertTrue(sb.get("ack_invalid") >= n, "B refused the final ACKs: " + sb);
        }
    }
}
