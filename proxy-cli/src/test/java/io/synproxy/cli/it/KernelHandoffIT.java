package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.Nginx;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.Shell;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --handoff kernel}: the tc program answers the SYNs and hands each verified final ACK to the proxy's listening
 * socket, the kernel builds the connection, the proxy accepts and relays it. Real clients (Linux's TCP stack, curl)
 * under a spoofed SYN flood (hping3), over IPv4 and IPv6, reusing the ports of connections the proxy closed first;
 * nothing left listening once it stops.
 */
@RequiresRoot(tools = {"nft", "hping3", "ip", "curl", "nginx"})
class KernelHandoffIT {
    /** The default, {@code --handoff auto}, comes to the kernel's handoff on a host that can have it (this one). */
    @Test
    void shouldServeClientsUnderAFloodWithTheKernelsHandoff() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "1s")) {
            proxy.awaitStarted();
            assertTrue(proxy.output().contains("final ACKs handed to the kernel at tc, which builds the connection "
                    + "(--handoff auto: kernel, Linux "), proxy.output());
            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            int connections = 200;
            int ok;
            long floodRate;
            try (Hping flood = Hping.flood(net, "-S", 20)) {
                Thread.sleep(2000);
                ok = Clients.echoAll(net, connections, 3000);
                flood.stop();
                floodRate = flood.rate();
            }
            Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
            long bpf = after.getOrDefault("bpf_synack", 0L) - before.getOrDefault("bpf_synack", 0L);
            System.out.printf("KernelHandoffIT: %d/%d clients under %d SYN/s, %d SYN/ACKs from the program, %s%n", ok,
                    connections, floodRate, bpf, after);
            assertTrue(bpf > 50_000, "the flood was answered in the kernel: " + bpf);
            assertTrue(ok >= connections * 99 / 100, ok + " of " + connections + " clients succeeded");
            assertTrue(after.get("handoffs") - before.get("handoffs") >= ok, "each client was accepted: " + after);
            assertTrue(backend.accepted() >= ok, "each success reached the backend: " + backend.accepted());
            assertEquals(0, after.get("handoff_failed"), "the kernel took every verified ACK: " + after);
            // A local client makes its handshake with the listener itself: lo has no program.
            assertTrue(net.inServerNow(() -> Clients.echoOnce(Clients.PROXY, 0, 3000)) > 0, "a client on the host");
            assertTrue(listening(net), "the proxy listens on its port");
            assertTrue(proxy.terminate(Duration.ofSeconds(30)) >= 0, "stopped on SIGTERM: " + proxy.output());
            assertFalse(listening(net), "nothing left listening on the port");
            assertFalse(net.exec(net.serverNs(), "nft", "list", "tables").contains("synproxy_"), "guard removed");
        }
    }

    /**
     * The backend closes first (HTTP with Connection: close), so each connection leaves a TIME_WAIT on the proxy's
     * side; the client, with ten ports to choose from, reuses them at once. Such a SYN is the kernel's (the TIME_WAIT
     * gives way to the listener): every request is served.
     */
    @Test
    void shouldServeClientsThatReuseThePortOfATimeWait() throws Exception {
        try (TestNet net = TestNet.pair()) {
            Path dir = Files.createTempDirectory("kernel-handoff-nginx");
            try {
                Nginx.start(net, net.serverNs(), dir, 511, List.of("127.0.0.1:8081"));
                try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen",
                        TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:8081", "--stats-interval", "1s",
                        "--handoff", "kernel")) {
                    proxy.awaitStarted();
                    net.sysctl(net.clientNs(), "net.ipv4.ip_local_port_range", "40000 40009");
                    int requests = 40;
                    String out = net.exec(net.clientNs(), "bash", "-c", "ok=0; for i in $(seq " + requests + "); do "
                            + "curl -s -m 5 -H 'Connection: close' http://" + TestNet.SERVER_IP + ":8080/ "
                            + "| grep -q 'hello from nginx' && ok=$((ok+1)); done; echo $ok");
                    int ok = Integer.parseInt(out.trim());
                    String timeWaits = net.exec(net.serverNs(), "ss", "-Htan", "state", "time-wait", "sport", "= :8080");
                    System.out.printf("KernelHandoffIT: %d/%d requests through reused ports, %d TIME_WAITs%n", ok,
                            requests, timeWaits.lines().count());
                    assertEquals(requests, ok, "every request was served");
                    assertTrue(timeWaits.lines().count() > 0, "the proxy closed first and kept TIME_WAITs");
                }
            } finally {
                try (Stream<Path> files = Files.walk(dir)) {
                    files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
    }

    /**
     * A client the per-source limit refuses at accept, whose request reaches the host after the RST: that segment
     * carries the cookie's ACK too, so the program and the kernel build the same connection again. The client here
     * never sees the RSTs (the client host drops them), sends its request 300 ms later and retransmits it: one
     * refused client, counted once, and nothing of it reaches the backend.
     */
    @Test
    void shouldCountARefusedClientOnceWhenItsRequestComesAfterTheReset() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "1s", "--handoff", "kernel",
                     "--threads", "1", "--max-connections-per-source", "1")) {
            proxy.awaitStarted();
            try (Socket held = net.inClientNow(() -> connect(true))) {
                net.exec(net.clientNs(), "nft", "add table inet rstdrop; add chain inet rstdrop in { type filter hook "
                        + "input priority 0; }; add rule inet rstdrop in tcp sport 8080 tcp flags rst drop");
                try (Socket refused = net.inClientNow(() -> connect(false))) {
                    Thread.sleep(300);
                    net.inClientNow(() -> {
                        refused.getOutputStream().write("x\n".getBytes(StandardCharsets.US_ASCII));
                        return null;
                    });
                    // Its first retransmissions (about 200 and 600 ms later) rebuild the connection too.
                    Thread.sleep(1500);
                }
                net.exec(net.clientNs(), "nft", "delete table inet rstdrop");
                Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
                System.out.println("KernelHandoffIT refused once: " + stats);
                assertEquals(1, stats.get("source_limit_rst"), "one refused client, one count: " + stats);
                assertEquals(1, stats.get("handoffs"), stats.toString());
                assertEquals(1, backend.accepted(), "the refused client never reached the backend");
                held.getOutputStream().write("y\n".getBytes(StandardCharsets.US_ASCII));
                assertEquals(2, held.getInputStream().readNBytes(2).length, "the held connection still relays");
            }
        }
    }

    /**
     * Out of descriptors (the proxy's soft limit lowered below what it holds, with prlimit): a client's connection waits
     * in the accept queue, and the proxy carries on; it does not take the failed interface lookup of its once-a-second
     * check (glibc opens a socket to ask) for its interface gone. The limit raised again, the waiting client is served
     * by the accept's retry, with no other client arriving to wake it.
     */
    @Test
    void shouldRideOutRunningOutOfDescriptors() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "1s", "--handoff", "kernel",
                     "--threads", "1")) {
            proxy.awaitStarted();
            String pid = Long.toString(proxy.jvm().pid());
            String limits = Files.readString(Path.of("/proc", pid, "limits"));
            Matcher m = Pattern.compile("Max open files\\s+(\\d+)\\s+(\\d+)")
                    .matcher(limits);
            assertTrue(m.find(), limits);
            // A soft limit of 3: a new descriptor takes the lowest free number, which is above 3 (stdio below), so
            // none can be had; those open stay open.
            Shell.sh("prlimit", "--pid", pid, "--nofile=3:" + m.group(2));
            try (Socket waiting = net.inClientNow(() -> connect(false))) {
                waiting.getOutputStream().write("w\n".getBytes(StandardCharsets.US_ASCII));
                waiting.setSoTimeout(2500);
                assertThrows(SocketTimeoutException.class, () -> waiting.getInputStream().read(),
                        "no descriptor for it: it waits in the queue");
                assertTrue(proxy.process().isAlive(), "still running out of descriptors: " + proxy.output());
                Shell.sh("prlimit", "--pid", pid, "--nofile=" + m.group(1) + ":" + m.group(2));
                waiting.setSoTimeout(3000);
                assertEquals(2, waiting.getInputStream().readNBytes(2).length, "served once descriptors were back");
            }
            assertTrue(proxy.process().isAlive(), proxy.output());
            assertFalse(proxy.output().contains("is gone"), proxy.output());
            assertTrue(net.inClientNow(() -> Clients.echoOnce(Clients.PROXY, 1, 3000)) > 0, "and the next one");
            assertEquals(2, backend.accepted(), "both reached the backend");
        }
    }

    private static Socket connect(boolean echo) throws IOException {
        Socket s = new Socket();
        s.setSoTimeout(3000);
        s.connect(Clients.PROXY, 3000);
        if (echo) {
            s.getOutputStream().write("h\n".getBytes(StandardCharsets.US_ASCII));
            if (s.getInputStream().readNBytes(2).length != 2) {
                s.close();
                throw new IOException("no echo");
            }
        }
        return s;
    }

    /**
     * {@code --pack-loops}, the default with the kernel's handoff, over two listens (two SO_REUSEPORT groups) and two
     * loops: connections held open all go to loop 0; echoes that keep loop 0 past half a core bring loop 1 in; once
     * they stop, new connections go to loop 0 alone again. With {@code --no-pack-loops} the kernel's hash spreads
     * them over both.
     */
    @Test
    @SuppressWarnings("try") // the backend only needs to exist
    void shouldPackConnectionsOntoTheFewestLoops() throws Exception {
        try (TestNet net = TestNet.pairWithIpv6(); EchoBackend backend = EchoBackend.start(net)) {
            for (boolean pack : new boolean[] {true, false}) {
                try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen",
                        TestNet.SERVER_IP + ":8080", "--listen", "[" + TestNet.SERVER_IP6 + "]:8080", "--backend",
                        "127.0.0.1:" + EchoBackend.PORT, "--handoff", "kernel", "--threads", "2", "--metrics",
                        "127.0.0.1:" + OperationsIT.METRICS_PORT, pack ? "--pack-loops" : "--no-pack-loops")) {
                    proxy.awaitStarted();
                    assertEquals(pack, proxy.output().contains("2 thread(s) (new connections on the fewest that carry "
                            + "them, --pack-loops)"), proxy.output());
                    List<Socket> held = new ArrayList<>();
                    try {
                        for (int i = 0; i < 24; i++) {
                            InetSocketAddress to = i % 2 == 0 ? Clients.PROXY : Clients.PROXY6;
                            held.add(net.inClientNow(() -> echoed(to)));
                        }
                        long[] live = loopLive(net);
                        System.out.printf("KernelHandoffIT: %s: 24 held connections on the loops: %d, %d%n",
                                pack ? "packed" : "not packed", live[0], live[1]);
                        if (pack) {
                            assertArrayEquals(new long[] {24, 0}, live, "every connection on loop 0");
                            assertEquals(1, taking(net));
                            assertLoop1JoinsUnderLoadAndLeavesAfter(net, held);
                        } else {
                            assertTrue(live[0] > 0 && live[1] > 0, "the hash spreads them: " + live[0] + ", " + live[1]);
                            assertEquals(2, taking(net));
                        }
                    } finally {
                        for (Socket s : held) {
                            s.close();
                        }
                    }
                }
            }
        }
    }

    /**
     * {@code --max-connections} is per loop: packed, a loop that has reached it is passed over, so the proxy still
     * holds {@code --threads} times as many, as it does spread (the loop would reset what it is given).
     */
    @Test
    @SuppressWarnings("try") // the backend only needs to exist
    void shouldPassOverAPackedLoopAtItsMaximum() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--handoff", "kernel", "--threads", "2",
                     "--max-connections", "5", "--stats-interval", "1s", "--metrics",
                     "127.0.0.1:" + OperationsIT.METRICS_PORT)) {
            proxy.awaitStarted();
            List<Socket> held = new ArrayList<>();
            try {
                for (int i = 0; i < 10; i++) {
                    held.add(net.inClientNow(() -> echoed(Clients.PROXY)));
                }
                assertArrayEquals(new long[] {5, 5}, loopLive(net), "loop 0 full, then loop 1");
                // Both full: the next is reset, as it was spread.
                assertThrows(IOException.class, () -> net.inClientNow(() -> echoed(Clients.PROXY)));
                held.removeFirst().close();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (loopLive(net)[0] != 4 && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                // Room on loop 0 again: it is taken there.
                held.add(net.inClientNow(() -> echoed(Clients.PROXY)));
                assertArrayEquals(new long[] {5, 5}, loopLive(net), "loop 0 took it again");
                Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
                assertEquals(1, stats.get("limit_rst"), "only the one past both loops was refused: " + stats);
            } finally {
                for (Socket s : held) {
                    s.close();
                }
            }
        }
    }

    /** Echo ping-pong on {@code held} for 3 s from six threads; loop 1 takes connections meanwhile, not after. */
    private static void assertLoop1JoinsUnderLoadAndLeavesAfter(TestNet net, List<Socket> held) throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> load = new ArrayList<>();
        AtomicLong echoes = new AtomicLong();
        for (int t = 0; t < 6; t++) {
            Socket s = held.get(t);
            load.add(Thread.ofPlatform().start(() -> {
                byte[] b = new byte[2];
                try {
                    while (!stop.get()) {
                        s.getOutputStream().write("p\n".getBytes(StandardCharsets.US_ASCII));
                        if (s.getInputStream().readNBytes(b, 0, 2) != 2) {
                            return;
                        }
                        echoes.incrementAndGet();
                    }
                } catch (IOException e) {
                    // The check below says what the load reached.
                }
            }));
        }
        int most = 1;
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
        while (System.nanoTime() < end) {
            most = Math.max(most, taking(net));
            Thread.sleep(100);
        }
        stop.set(true);
        for (Thread t : load) {
            t.join();
        }
        System.out.printf("KernelHandoffIT: %d echoes in 3 s; at most %d loops took connections%n", echoes.get(), most);
        assertEquals(2, most, "loop 0 busy, loop 1 took new connections too");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (taking(net) != 1 && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertEquals(1, taking(net), "quiet again: loop 0 alone");
        long[] before = loopLive(net);
        for (int i = 0; i < 8; i++) {
            held.add(net.inClientNow(() -> echoed(Clients.PROXY)));
        }
        long[] after = loopLive(net);
        assertArrayEquals(new long[] {before[0] + 8, before[1]}, after, "the new ones on loop 0");
    }

    private static Socket echoed(InetSocketAddress to) throws IOException {
        Socket s = new Socket();
        s.setSoTimeout(3000);
        s.connect(to, 3000);
        s.getOutputStream().write("h\n".getBytes(StandardCharsets.US_ASCII));
        if (s.getInputStream().readNBytes(2).length != 2) {
            s.close();
            throw new IOException("no echo");
        }
        return s;
    }

    private static long[] loopLive(TestNet net) throws Exception {
        String m = OperationsIT.scrape(net);
        return new long[] {OperationsIT.sample(m, "synproxy_loop_live_connections{loop=\"0\"}"),
                OperationsIT.sample(m, "synproxy_loop_live_connections{loop=\"1\"}")};
    }

    private static int taking(TestNet net) throws Exception {
        return (int) OperationsIT.sample(OperationsIT.scrape(net), "synproxy_loops_taking_connections");
    }

    /** IPv4 and IPv6 listens together: no capture ring, so tc takes both families. */
    @Test
    void shouldServeBothFamilies() throws Exception {
        try (TestNet net = TestNet.pairWithIpv6(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--listen", "[" + TestNet.SERVER_IP6 + "]:8080", "--backend", "127.0.0.1:" + EchoBackend.PORT,
                     "--stats-interval", "1s", "--handoff", "kernel")) {
            proxy.awaitStarted();
            assertTrue(proxy.output().contains("SYNs answered in the kernel at tc"), proxy.output());
            for (int i = 0; i < 20; i++) {
                int n = i;
                assertTrue(net.inClientNow(() -> Clients.echoOnce(Clients.PROXY, n, 3000)) > 0);
                assertTrue(net.inClientNow(() -> Clients.echoOnce(Clients.PROXY6, n, 3000)) > 0);
            }
            Map<String, Long> stats = proxy.nextStats(Duration.ofSeconds(5));
            assertTrue(stats.get("handoffs") >= 40, "each was accepted: " + stats);
            assertTrue(backend.accepted() >= 40, "each reached the backend: " + backend.accepted());
            assertTrue(stats.getOrDefault("bpf_synack", 0L) >= 40, "each SYN answered at tc: " + stats);
        }
    }

    /**
     * Beside a running instance with the repair handoff on other listens of the same interface, whose packet sockets
     * would refuse the kernel's handoff's clients, auto takes the repair handoff and says why.
     */
    @Test
    @SuppressWarnings("try") // the backend only needs to exist
    void shouldTakeTheRepairHandoffBesideAnInstanceThatHasIt() throws Exception {
        try (TestNet net = TestNet.pair(); EchoBackend backend = EchoBackend.start(net);
             ProxyProcess repair = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8081",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "0", "--handoff", "repair")) {
            repair.awaitStarted();
            try (ProxyProcess auto = ProxyProcess.start(net, net.serverNs(), "run", "--listen",
                    TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "0")) {
                auto.awaitStarted();
                assertTrue(auto.output().contains("(--handoff auto: repair, ") && auto.output().contains(
                        "packet socket(s) of IPv4 or IPv6 receive on " + net.serverDev()), auto.output());
                assertFalse(auto.output().contains("warning"), auto.output());
                long micros = net.inClientNow(() -> Clients.echoOnce(1, 5000)) / 1000;
                assertTrue(micros < 1_000_000, "served on the first SYN: " + micros + " us");
            }
        }
    }

    /** What the kernel's handoff cannot do is told in one sentence, before anything starts. */
    @Test
    void shouldRefuseWhatTheKernelsHandoffCannotDo() throws Exception {
        try (TestNet net = TestNet.pair()) {
            String[] common = {"run", "--listen", TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:9000",
                "--handoff", "kernel"};
            assertRefused(net, "--handoff kernel needs the SYNs answered at tc", common, "--syn-path", "ring");
            assertRefused(net, "--handoff must be auto, repair or kernel", "run", "--listen",
                    TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:9000", "--handoff", "socket");
            // Asked for by name, it is not traded for the repair handoff as auto does: a wildcard has no interface.
            try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", "0.0.0.0:8080",
                    "--backend", "127.0.0.1:9000", "--handoff", "kernel")) {
                assertTrue(proxy.process().waitFor(60, TimeUnit.SECONDS));
                String out = proxy.output();
                assertEquals(1, proxy.process().exitValue(), out);
                assertEquals("synproxy: --handoff kernel needs the BPF program at tc, which this host cannot have: the "
                        + "program needs one interface (--interface, or a --listen address of one)", out.strip());
                assertFalse(net.exec(net.serverNs(), "nft", "list", "tables").contains("synproxy"), "nothing left");
            }
        }
    }

    private static void assertRefused(TestNet net, String sentence, String[] args, String... more) throws Exception {
        String[] all = new String[args.length + more.length];
        System.arraycopy(args, 0, all, 0, args.length);
        System.arraycopy(more, 0, all, args.length, more.length);
        assertRefused(net, sentence, all);
    }

    private static void assertRefused(TestNet net, String sentence, String... args) throws Exception {
        try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), args)) {
            assertTrue(proxy.process().waitFor(60, TimeUnit.SECONDS));
            String out = proxy.output();
            assertEquals(2, proxy.process().exitValue(), out);
            assertTrue(out.contains(sentence), out);
            assertFalse(out.contains("Exception"), "no stack trace: " + out);
        }
    }

    private static boolean listening(TestNet net) throws Exception {
        return net.exec(net.serverNs(), "ss", "-Hltn", "sport", "= :8080").lines().findAny().isPresent();
    }
}
