package io.synproxy.cli.it;

import io.synproxy.cookie.SecretFile;
import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.Netns;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Upgrade in place under load: while an open-model client load (100 new connections a second) and a spoofed SYN
 * flood run, a second instance with the same arguments starts beside the first, then the first gets SIGTERM. Every
 * client is served, quickly (no SYN retransmission), the guard never leaves, and it goes with the last instance.
 */
@RequiresRoot(tools = {"nft", "ip", "hping3", "timeout"})
class UpgradeIT {
    private static final String TABLE = "synproxy_10_200_0_1_8080";
    private static final long INTERVAL_MICROS = 10_000;
    private static final int WARM_UP_CLIENTS = 50;

    /**
     * With {@code --handoff kernel} the second instance's listening sockets join the first's SO_REUSEPORT group, and
     * the first's leave it at SIGTERM, once they have accepted what their queues held.
     */
    @ParameterizedTest
    @ValueSource(strings = {"repair", "kernel"})
    void upgradeUnderLoadServesEveryClient(String handoff) throws Exception {
        Path secret = newSecret();
        Path dir = secret.getParent();
        String[] args = {"run", "--listen", TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:" + EchoBackend.PORT,
            "--secret-file", secret.toString(), "--threads", "2", "--stats-interval", "0", "--drain-timeout", "5s",
            "--handoff", handoff};
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor();
        ExecutorService clients = null;
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net)) {
            clients = Executors.newFixedThreadPool(256, r -> inNamespace(r, net.clientNs()));
            ProxyProcess a = ProxyProcess.start(net, net.serverNs(), args);
            a.awaitStarted(Duration.ofSeconds(90));
            // The client warm before the load: its threads (each enters the namespace) and its code, so the
            // figures measure the proxies, not the test's own cold start.
            ((ThreadPoolExecutor) clients).prestartAllCoreThreads();
            for (int i = 0; i < WARM_UP_CLIENTS; i++) {
                int id = -1 - i;
                clients.submit(() -> Clients.echoOnce(id, 20_000)).get(30, TimeUnit.SECONDS);
            }

            AtomicBoolean running = new AtomicBoolean(true);
            AtomicInteger guardChecks = new AtomicInteger();
            AtomicInteger guardMissing = new AtomicInteger();
            Thread watcher = new Thread(() -> {
                while (running.get()) {
                    try {
                        if (!net.exec(net.serverNs(), "nft", "list", "tables").contains(TABLE)) {
                            guardMissing.incrementAndGet();
                        }
                        guardChecks.incrementAndGet();
                        Thread.sleep(100);
                    } catch (IOException | InterruptedException e) {
                        return;
                    }
                }
            }, "guard-watcher");
            watcher.start();

            long synRetransBefore = net.tcpCounters(net.clientNs()).getOrDefault("TcpExt:TCPSynRetrans", 0L);
            Process flood = net.start(net.clientNs(), ProcessBuilder.Redirect.DISCARD, "timeout", "-s", "INT", "40",
                    "hping3", "-i", "u2000", "--rand-source", "-S", "-p", "8080", TestNet.SERVER_IP);

            ConcurrentLinkedQueue<Future<Long>> results = new ConcurrentLinkedQueue<>();
            ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
            ConcurrentLinkedQueue<Long> dueTimes = new ConcurrentLinkedQueue<>();
            AtomicLong tick = new AtomicLong();
            long t0 = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50);
            ExecutorService pool = clients;
            ticker.scheduleAtFixedRate(() -> {
                long k = tick.getAndIncrement();
                long due = t0 + k * TimeUnit.MICROSECONDS.toNanos(INTERVAL_MICROS);
                int id = (int) k;
                // Open model: latency counts from when the connection was due, queueing included.
                dueTimes.add(due);
                results.add(pool.submit(() -> {
                    try {
                        // Long enough that "served" says whether a connection completed, the latency how fast.
                        Clients.echoOnce(id, 20_000);
                        return System.nanoTime() - due;
                    } catch (IOException e) {
                        failures.add("t=" + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) + "ms due "
                                + TimeUnit.NANOSECONDS.toMillis(due - t0) + "ms: " + e);
                        return -1L;
                    }
                }));
            }, TimeUnit.NANOSECONDS.toMicros(Math.max(0, t0 - System.nanoTime())), INTERVAL_MICROS,
                    TimeUnit.MICROSECONDS);

            Thread.sleep(2_000);
            long bStart = System.nanoTime();
            ProxyProcess b = ProxyProcess.start(net, net.serverNs(), args);
            b.awaitStarted(Duration.ofSeconds(90));
            long bUpMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - bStart);
            Thread.sleep(1_000);
            long bUp = System.nanoTime();
            long termAt = System.nanoTime();
            int codeA = a.terminate(Duration.ofSeconds(30));
            long aExitMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - termAt);
            Thread.sleep(2_000);
            ticker.shutdown();
            ticker.awaitTermination(5, TimeUnit.SECONDS);

            List<Long> latencies = new ArrayList<>();
            List<Long> alone = new ArrayList<>();
            List<Long> upgrade = new ArrayList<>();
            int failed = 0;
            // Failures by when they were due: A alone, B starting, both up, after A's SIGTERM.
            int[] failedIn = new int[4];
            List<Long> dues = new ArrayList<>(dueTimes);
            int index = 0;
            for (Future<Long> f : results) {
                long ns = f.get(30, TimeUnit.SECONDS);
                long due = dues.get(index++);
                int phase = due < bStart ? 0 : due < bUp ? 1 : due < termAt ? 2 : 3;
                if (ns < 0) {
                    failed++;
                    failedIn[phase]++;
                } else {
                    latencies.add(ns);
                    if (due < bStart) {
                        alone.add(ns);
                    } else {
                        upgrade.add(ns);
                    }
                }
            }
            flood.toHandle().descendants().forEach(ProcessHandle::destroy);
            flood.destroy();
            flood.waitFor(10, TimeUnit.SECONDS);
            boolean guardAfterA = net.exec(net.serverNs(), "nft", "list", "tables").contains(TABLE);
            running.set(false);
            watcher.join(5_000);
            long synRetrans = net.tcpCounters(net.clientNs()).getOrDefault("TcpExt:TCPSynRetrans", 0L)
                    - synRetransBefore;

            int codeB = b.terminate(Duration.ofSeconds(30));
            boolean guardAfterB = net.exec(net.serverNs(), "nft", "list", "tables").contains(TABLE);
            Map<String, Long> sa = a.lastStats();
            Map<String, Long> sb = b.lastStats();

            long[] sorted = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
            long p50 = sorted.length == 0 ? -1 : sorted[sorted.length / 2] / 1_000_000;
            long p99 = sorted.length == 0 ? -1 : sorted[Math.min(sorted.length - 1, (int) (sorted.length * 0.99))] / 1_000_000;
            long max = sorted.length == 0 ? -1 : sorted[sorted.length - 1] / 1_000_000;
            long[] baseline = alone.stream().mapToLong(Long::longValue).sorted().toArray();
            long p99Alone = baseline.length == 0 ? -1
                    : baseline[Math.min(baseline.length - 1, (int) (baseline.length * 0.99))] / 1_000_000;
            long[] during = upgrade.stream().mapToLong(Long::longValue).sorted().toArray();
            long p99Upgrade = during.length == 0 ? -1
                    : during[Math.min(during.length - 1, (int) (during.length * 0.99))] / 1_000_000;
            System.out.println("UpgradeIT: p99 " + p99Upgrade + " ms over the " + during.length
                    + " clients due from B's start on (the upgrade)");
            System.out.printf("UpgradeIT --handoff " + handoff + ": B up %d ms after its start; %d/%d served, failed %d; connect+first byte p50 %d ms p99 %d ms max %d ms "
                    + "(p99 %d ms over the %d due before B started); "
                    + "client SYN retransmissions %d; A exited %d ms after SIGTERM (code %d): syn=%d handoffs=%d "
                    + "handover_unread=%d ring_drops=%d; B syn=%d handoffs=%d ack_invalid=%d ack_host_socket=%d ring_drops=%d; guard "
                    + "checks %d, missing %d; guard after A %s, after B %s%n",
                    bUpMillis, latencies.size(), results.size(), failed, p50, p99, max, p99Alone, baseline.length, synRetrans, aExitMillis, codeA,
                    sa.get("syn"), sa.get("handoffs"), sa.get("handover_unread"), sa.get("ring_drops"),
                    sb.get("syn"), sb.get("handoffs"), sb.get("ack_invalid"), sb.get("ack_host_socket"), sb.get("ring_drops"),
                    guardChecks.get(), guardMissing.get(), guardAfterA, guardAfterB);

            failures.stream().limit(10).forEach(System.out::println);
            System.out.println("UpgradeIT: B started at t=" + TimeUnit.NANOSECONDS.toMillis(bStart - t0) + " ms, up at t="
                    + TimeUnit.NANOSECONDS.toMillis(bUp - t0) + " ms, SIGTERM to A at t="
                    + TimeUnit.NANOSECONDS.toMillis(termAt - t0) + " ms; slowest (due at t, took): " + slowest(results, dues, t0));
            System.out.println("UpgradeIT: failed by phase (A alone, B starting, both, after SIGTERM to A): "
                    + Arrays.toString(failedIn));
            // Every client served. (Once B answered ACKs of A's live connections with a RST, as invalid cookies: now it
            // asks the kernel first, and leaves a connection the host holds to its socket: ack_host_socket.)
            assertEquals(0, failed, failed + " of " + results.size() + " clients failed\n" + a.output() + "\n"
                    + b.output());
            // One backend connection per client, but for a known gap: each instance remembers only its own closed
            // tuples, so a client's repeated final ACK (or zero-window probe) that reaches B after A handed the
            // connection off can be handed off a second time (seen once in 795 on a quiet host). Allow 1%, no more.
            int served = WARM_UP_CLIENTS + latencies.size();
            assertTrue(backend.accepted() >= served && backend.accepted() <= served + served / 100,
                    "one backend connection per client (1% allowed twice): " + served + " clients, "
                            + backend.accepted() + " backend connections");
            assertTrue(results.size() > 400, "the load ran: " + results.size());
            // The goal is a p99 under 200 ms. On a machine too loaded for that even without an upgrade, the figure
            // that still means something is the ratio to the same run's connections due before B started.
            assertTrue(p99Upgrade < 200 || p99Upgrade <= 3 * p99Alone / 2, "p99 " + p99Upgrade + " ms, " + p99Alone
                    + " ms before the upgrade; sorted tail " + Arrays.toString(
                    Arrays.copyOfRange(sorted, Math.max(0, sorted.length - 10), sorted.length)));
            assertTrue(p99Upgrade >= 200 || synRetrans == 0, "no client waited for a SYN retransmission: " + synRetrans);
            assertTrue(sa.get("handoffs") > 0 && sb.get("handoffs") > 0, "both instances served: " + sa + sb);
            assertTrue(codeA == 0 || codeA == 143, a.output());
            assertTrue(codeB == 0 || codeB == 143, b.output());
            assertTrue(a.output().contains("guard left to the other instance"), a.output());
            assertFalse(b.output().contains("warning"), "the same --secret-file: nothing to warn of\n" + b.output());
            assertTrue(guardChecks.get() > 10);
            assertEquals(0, guardMissing.get(), "the guard stayed while an instance ran");
            assertTrue(guardAfterA, "the guard stays after the first instance exits");
            assertFalse(guardAfterB, "the last instance out removes the guard");
        } finally {
            ticker.shutdownNow();
            if (clients != null) {
                clients.shutdownNow();
            }
            Files.deleteIfExists(secret);
            Files.deleteIfExists(dir);
        }
    }

    /**
     * A second instance with another cookie secret beside a first one: the handshakes one answers fail on the other
     * while both run, so the second says so at start (the first, alone when it started, does not). Another secret is
     * none of its own (no {@code --secret-file}), or a file beside a first instance that has none.
     */
    @Test
    void secondInstanceWithAnotherSecretWarns() throws Exception {
        String[] args = {"run", "--listen", TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:" + EchoBackend.PORT,
            "--threads", "1", "--stats-interval", "0", "--drain-timeout", "1s"};
        Path secret = newSecret();
        Path dir = secret.getParent();
        String[] withFile = Arrays.copyOf(args, args.length + 2);
        withFile[args.length] = "--secret-file";
        withFile[args.length + 1] = secret.toString();
        try (TestNet net = TestNet.pair();
             ProxyProcess a = ProxyProcess.start(net, net.serverNs(), args)) {
            a.awaitStarted(Duration.ofSeconds(90));
            for (String[] second : List.of(args, withFile)) {
                boolean file = second == withFile;
                try (ProxyProcess b = ProxyProcess.start(net, net.serverNs(), second)) {
                    b.awaitStarted(Duration.ofSeconds(90));
                    String warning = b.await("synproxy: warning", Duration.ofSeconds(10));
                    assertTrue(warning != null && warning.contains("synproxy: warning: another instance protects "
                            + TestNet.SERVER_IP + ":8080") && warning.contains("--secret-file")
                            && warning.contains(file ? "another cookie secret" : "has no --secret-file"), b.output());
                    int codeB = b.terminate(Duration.ofSeconds(30));
                    assertTrue(codeB == 0 || codeB == 143, b.output());
                }
            }
            assertFalse(a.output().contains("warning"), a.output());
            int codeA = a.terminate(Duration.ofSeconds(30));
            assertTrue(codeA == 0 || codeA == 143, a.output());
            assertFalse(net.exec(net.serverNs(), "nft", "list", "tables").contains(TABLE),
                    "the last one out removes the guard");
        } finally {
            Files.deleteIfExists(secret);
            Files.deleteIfExists(dir);
        }
    }

    /** A new secret file (mode 600) in a directory of its own; neither is left behind if writing it fails. */
    private static Path newSecret() throws IOException {
        Path dir = Files.createTempDirectory("synproxy-upgrade-");
        Path secret = dir.resolve("secret");
        try {
            Files.writeString(secret, SecretFile.newFileText());
            Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
            return secret;
        } catch (IOException | RuntimeException | Error e) {
            Files.deleteIfExists(secret);
            Files.deleteIfExists(dir);
            throw e;
        }
    }

    /** The 15 slowest connections as "t=due ms: latency ms", to tell start-up, B's start and A's leave apart. */
    private static String slowest(ConcurrentLinkedQueue<Future<Long>> results, List<Long> dues, long t0)
            throws Exception {
        List<long[]> byDue = new ArrayList<>();
        int i = 0;
        for (Future<Long> f : results) {
            byDue.add(new long[] {TimeUnit.NANOSECONDS.toMillis(dues.get(i++) - t0), f.get() / 1_000_000});
        }
        byDue.sort((x, y) -> Long.compare(y[1], x[1]));
        StringBuilder sb = new StringBuilder();
        for (long[] d : byDue.subList(0, Math.min(15, byDue.size()))) {
            sb.append(" t=").append(d[0]).append(':').append(d[1]);
        }
        return sb.toString();
    }

    private static Thread inNamespace(Runnable r, String ns) {
        Thread t = new Thread(() -> {
            Netns.enter(ns);
            r.run();
        }, "upgrade-client");
        t.setDaemon(true);
        return t;
    }
}
