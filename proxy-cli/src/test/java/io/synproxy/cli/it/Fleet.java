package io.synproxy.cli.it;

import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.Netns;
import io.synproxy.testsupport.Shell;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * Two proxy hosts behind a router: client namespace C, router R, instances A and B, each owning the virtual IP
 * {@link #VIP} with an echo backend on 127.0.0.1:9000. R routes the VIP either over both (ECMP, L4 hash) or SYNs
 * to A and everything else to B (a mark on SYN-only segments selects a routing table). Everything is deleted by
 * {@link #close()}.
 *
 * <pre>
 *   C 10.201.0.2 -- 10.201.0.1 R 10.201.1.1 -- 10.201.1.2 A (VIP 10.201.9.9)
 *                               10.201.2.1 -- 10.201.2.2 B (VIP 10.201.9.9)
 * </pre>
 */
final class Fleet implements AutoCloseable {
    static final String VIP = "10.201.9.9";
    static final InetSocketAddress SERVICE = new InetSocketAddress(VIP, 80);

    private final String c;
    private final String r;
    private final String a;
    private final String b;
    private final List<String> namespaces = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final ExecutorService clientThreads;
    private final Path dir;
    private final Thread cleanupHook;

    Fleet() throws IOException {
        String id = Long.toHexString(ProcessHandle.current().pid()) + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 16));
        c = "spt-fc-" + id;
        r = "spt-fr-" + id;
        a = "spt-fa-" + id;
        b = "spt-fb-" + id;
        String tail = id.substring(Math.max(0, id.length() - 8));
        cleanupHook = new Thread(this::deleteQuietly);
        Runtime.getRuntime().addShutdownHook(cleanupHook);
        dir = Files.createTempDirectory("synproxy-fleet-");
        try {
            for (String ns : List.of(c, r, a, b)) {
                Shell.sh("ip", "netns", "add", ns);
                namespaces.add(ns);
                Shell.sh("ip", "-n", ns, "link", "set", "lo", "up");
            }
            link(c, "fc" + tail, "10.201.0.2/24", r, "fcr" + tail, "10.201.0.1/24");
            link(a, "fa" + tail, "10.201.1.2/24", r, "far" + tail, "10.201.1.1/24");
            link(b, "fb" + tail, "10.201.2.2/24", r, "fbr" + tail, "10.201.2.1/24");
            Shell.sh("ip", "-n", a, "addr", "add", VIP + "/32", "dev", "fa" + tail);
            Shell.sh("ip", "-n", b, "addr", "add", VIP + "/32", "dev", "fb" + tail);
            Shell.sh("ip", "-n", c, "route", "add", "default", "via", "10.201.0.1");
            Shell.sh("ip", "-n", a, "route", "add", "default", "via", "10.201.1.1");
            Shell.sh("ip", "-n", b, "route", "add", "default", "via", "10.201.2.1");
            // The router: forwarding, no reverse-path filter (in the split path the SYN/ACK comes back from A while
            // the VIP's route points to B), and an L4 multipath hash so that each connection picks a next hop.
            Shell.sh("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1",
                    "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                    "net.ipv4.fib_multipath_hash_policy=1");
            for (String dev : List.of("fcr" + tail, "far" + tail, "fbr" + tail)) {
                Shell.sh("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.conf." + dev + ".rp_filter=0");
            }
            // Spoofed flood sources are routed back to C, which drops them, as on a real network.
            Shell.sh("ip", "-n", r, "route", "add", "10.0.0.0/8", "via", "10.201.0.2");
        } catch (IOException | RuntimeException e) {
            deleteQuietly();
            throw e;
        }
        clientThreads = Executors.newFixedThreadPool(64, rn -> namespaced(rn, c));
    }

    private void link(String ns1, String dev1, String ip1, String ns2, String dev2, String ip2) throws IOException {
        Shell.sh("ip", "link", "add", dev1, "type", "veth", "peer", "name", dev2);
        Shell.sh("ip", "link", "set", dev1, "netns", ns1);
        Shell.sh("ip", "link", "set", dev2, "netns", ns2);
        Shell.sh("ip", "-n", ns1, "addr", "add", ip1, "dev", dev1);
        Shell.sh("ip", "-n", ns2, "addr", "add", ip2, "dev", dev2);
        Shell.sh("ip", "-n", ns1, "link", "set", dev1, "up");
        Shell.sh("ip", "-n", ns2, "link", "set", dev2, "up");
    }

    /** The VIP over both instances, one next hop per connection (fib_multipath_hash_policy=1). */
    void ecmp() throws IOException {
        Shell.sh("ip", "-n", r, "route", "add", VIP + "/32", "nexthop", "via", "10.201.1.2", "nexthop", "via",
                "10.201.2.2");
    }

    /** SYN-only segments to A (mark 1, table 100), every other segment to B. */
    void splitPath() throws IOException {
        Shell.sh("ip", "-n", r, "route", "add", VIP + "/32", "via", "10.201.2.2");
        Shell.sh("ip", "-n", r, "route", "add", VIP + "/32", "via", "10.201.1.2", "table", "100");
        Shell.sh("ip", "-n", r, "rule", "add", "fwmark", "1", "table", "100");
        exec(r, "table ip split {\n"
                + "  chain pre {\n"
                + "    type filter hook prerouting priority mangle; policy accept;\n"
                + "    ip daddr " + VIP + " tcp flags & (syn | ack) == syn meta mark set 1\n"
                + "  }\n"
                + "}\n", "nft", "-f", "-");
    }

    /** Runs {@code command} in {@code ns} with {@code input} on its stdin; fails on a non-zero exit. */
    String exec(String ns, String input, String... command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(command));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (p.waitFor() != 0) {
                throw new IOException(String.join(" ", cmd) + " exited " + p.exitValue() + ": " + out.trim());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
        return out;
    }

    String a() {
        return a;
    }

    String b() {
        return b;
    }

    String router() {
        return r;
    }

    /** An echo backend on 127.0.0.1:9000 in {@code ns}. */
    EchoBackend backend(String ns) throws Exception {
        ExecutorService once = Executors.newSingleThreadExecutor(rn -> namespaced(rn, ns));
        try {
            ServerSocket s = once.submit(() -> {
                ServerSocket ss = new ServerSocket();
                ss.setReuseAddress(true);
                ss.bind(new InetSocketAddress("127.0.0.1", EchoBackend.PORT), 1024);
                return ss;
            }).get();
            EchoBackend backend = EchoBackend.on(s);
            closeables.add(backend);
            return backend;
        } finally {
            once.shutdown();
        }
    }

    /** A secret file (mode 600) with {@code text}, deleted by {@link #close()}. */
    Path secretFile(String name, String text) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, text);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        return f;
    }

    /** {@code synproxy run} in {@code ns} protecting the VIP, backend 127.0.0.1:9000, with {@code extra} options. */
    ProxyProcess proxy(String ns, String... extra) throws IOException {
        List<String> args = new ArrayList<>(List.of("run", "--listen", VIP + ":80", "--backend",
                "127.0.0.1:" + EchoBackend.PORT, "--threads", "1", "--stats-interval", "0"));
        args.addAll(List.of(extra));
        ProxyProcess p = ProxyProcess.start((out, command) -> start(ns, out, command), args.toArray(String[]::new));
        closeables.add(p);
        return p;
    }

    private Process start(String ns, ProcessBuilder.Redirect out, String... command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(command));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out).start();
        synchronized (processes) {
            processes.add(p);
        }
        return p;
    }

    /** Runs {@code task} on a thread in the client namespace. */
    <T> Future<T> inClient(Callable<T> task) {
        return clientThreads.submit(task);
    }

    private static Thread namespaced(Runnable rn, String ns) {
        Thread t = new Thread(() -> {
            Netns.enter(ns);
            rn.run();
        }, "ns-" + ns);
        t.setDaemon(true);
        return t;
    }

    @Override
    public void close() {
        deleteQuietly();
        try {
            Runtime.getRuntime().removeShutdownHook(cleanupHook);
        } catch (IllegalStateException ignored) {
            // Already shutting down: the hook is running this.
        }
    }

    private void deleteQuietly() {
        if (clientThreads != null) {
            clientThreads.shutdownNow();
        }
        for (AutoCloseable cl : closeables) {
            try {
                cl.close();
            } catch (Exception ignored) {
                // Best effort: the namespaces go next anyway.
            }
        }
        synchronized (processes) {
            for (Process p : processes) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
        }
        for (String ns : namespaces) {
            try {
                Shell.sh("ip", "netns", "del", ns);
            } catch (IOException ignored) {
                // Already gone.
            }
        }
        namespaces.clear();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // Gone already.
        }
    }
}
