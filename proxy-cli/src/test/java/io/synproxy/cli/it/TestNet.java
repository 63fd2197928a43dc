package io.synproxy.cli.it;

import io.synproxy.linux.LinuxException;
import io.synproxy.linux.NetNamespace;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Two test hosts joined by a veth pair: "server" (the proxy and the backend) at 10.200.0.1 and
 * "client" (real Linux TCP clients and the flood) at 10.200.0.2. Names are unique per instance;
 * {@link #close()} kills what runs inside and deletes both namespaces, also after a failure.
 *
 * <p>Java code reaches a namespace through {@link #inClient}/{@link #inServer}: a platform thread
 * that called setns(2) for itself, so the sockets it creates belong to that namespace.
 */
public final class TestNet implements AutoCloseable {
    public static final String SERVER_IP = "10.200.0.1";
    public static final String CLIENT_IP = "10.200.0.2";
    /** The IPv6 pair of {@link #withIpv6()} (unique-local, DAD off so that they are usable at once). */
    public static final String SERVER_IP6 = "fd00:200::1";
    public static final String CLIENT_IP6 = "fd00:200::2";

    private final String server;
    private final String client;
    private final String serverDev;
    private final String clientDev;
    private final ExecutorService clientThreads;
    private final ExecutorService serverThreads;
    private final List<Process> processes = new ArrayList<>();
    private final Thread cleanupHook;

    public TestNet() throws IOException {
        this(false);
    }

    /**
     * A test net that also has IPv6: {@link #SERVER_IP6} and {@link #CLIENT_IP6} on the veth pair (nodad, and
     * duplicate address detection off for the link-local addresses too), spoofed IPv6 sources routed back to the
     * client host as for IPv4.
     */
    public static TestNet withIpv6() throws IOException {
        return new TestNet(true);
    }

    private TestNet(boolean ipv6) throws IOException {
        String id = Long.toHexString(ProcessHandle.current().pid()) + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 16));
        server = "spt-s-" + id;
        client = "spt-c-" + id;
        serverDev = "sps" + id.substring(Math.max(0, id.length() - 8));
        clientDev = "spc" + id.substring(Math.max(0, id.length() - 8));
        cleanupHook = new Thread(this::deleteQuietly);
        Runtime.getRuntime().addShutdownHook(cleanupHook);
        try {
            sh("ip", "netns", "add", server);
            sh("ip", "netns", "add", client);
            if (ipv6) {
                for (String ns : new String[] {server, client}) {
                    // Devices moved in later take the namespace's defaults: no DAD on their link-local addresses.
                    sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0",
                            "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.all.disable_ipv6=0",
                            "net.ipv6.conf.default.disable_ipv6=0");
                }
            }
            sh("ip", "link", "add", serverDev, "type", "veth", "peer", "name", clientDev);
            sh("ip", "link", "set", serverDev, "netns", server);
            sh("ip", "link", "set", clientDev, "netns", client);
            sh("ip", "-n", server, "addr", "add", SERVER_IP + "/24", "dev", serverDev);
            sh("ip", "-n", client, "addr", "add", CLIENT_IP + "/24", "dev", clientDev);
            for (String[] nsDev : new String[][] {{server, serverDev}, {client, clientDev}}) {
                sh("ip", "-n", nsDev[0], "link", "set", nsDev[1], "up");
                sh("ip", "-n", nsDev[0], "link", "set", "lo", "up");
            }
            // Spoofed sources are routed back to the client host, as they would be on a real network.
            sh("ip", "-n", server, "route", "add", "default", "via", CLIENT_IP);
            if (ipv6) {
                sh("ip", "-n", server, "addr", "add", SERVER_IP6 + "/64", "dev", serverDev, "nodad");
                sh("ip", "-n", client, "addr", "add", CLIENT_IP6 + "/64", "dev", clientDev, "nodad");
                sh("ip", "-n", server, "-6", "route", "add", "default", "via", CLIENT_IP6);
                awaitNoTentativeAddress();
            }
        } catch (IOException | RuntimeException e) {
            deleteQuietly();
            throw e;
        }
        clientThreads = Executors.newFixedThreadPool(32, r -> namespacedThread(r, client));
        serverThreads = Executors.newCachedThreadPool(r -> namespacedThread(r, server));
    }

    /** Waits (at most 10 s) until neither namespace has an IPv6 address still in duplicate address detection. */
    private void awaitNoTentativeAddress() throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (String ns : new String[] {server, client}) {
            while (!sh("ip", "-n", ns, "-6", "addr", "show", "tentative").isBlank()) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("IPv6 addresses in " + ns + " stayed tentative");
                }
                try {
                    Thread.sleep(50);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted");
                }
            }
        }
    }

    /** The MAC address of {@code dev} in {@code ns}, as aa:bb:cc:dd:ee:ff. */
    public String mac(String ns, String dev) throws IOException {
        String[] fields = sh("ip", "-n", ns, "-br", "link", "show", "dev", dev).trim().split("\\s+");
        return fields[2];
    }

    public String serverNs() {
        return server;
    }

    public String clientNs() {
        return client;
    }

    public String serverDev() {
        return serverDev;
    }

    public String clientDev() {
        return clientDev;
    }

    public <T> Future<T> inClient(Callable<T> task) {
        return clientThreads.submit(task);
    }

    public <T> Future<T> inServer(Callable<T> task) {
        return serverThreads.submit(task);
    }

    public <T> T inClientNow(Callable<T> task) throws Exception {
        return unwrap(inClient(task));
    }

    public <T> T inServerNow(Callable<T> task) throws Exception {
        return unwrap(inServer(task));
    }

    private static <T> T unwrap(Future<T> f) throws Exception {
        try {
            return f.get(120, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            throw e;
        }
    }

    /** Starts a command inside a namespace; it is killed by {@link #close()}. */
    public Process start(String ns, ProcessBuilder.Redirect out, String... command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(command));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out).start();
        synchronized (processes) {
            processes.add(p);
        }
        return p;
    }

    /** Runs a command inside a namespace and returns its output; fails on a non-zero exit. */
    public String exec(String ns, String... command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(command));
        return sh(cmd.toArray(String[]::new));
    }

    /**
     * The namespace's TCP counters from /proc/net/snmp and /proc/net/netstat, keyed "Tcp:RetransSegs",
     * "TcpExt:TCPSynRetrans" and so on.
     */
    public Map<String, Long> tcpCounters(String ns) throws IOException {
        Map<String, Long> counters = new HashMap<>();
        for (String file : List.of("/proc/net/snmp", "/proc/net/netstat")) {
            String[] lines = exec(ns, "cat", file).split("\n");
            for (int i = 0; i + 1 < lines.length; i += 2) {
                String[] names = lines[i].trim().split("\\s+");
                String[] values = lines[i + 1].trim().split("\\s+");
                for (int k = 1; k < Math.min(names.length, values.length); k++) {
                    try {
                        counters.put(names[0] + names[k], Long.parseLong(values[k]));
                    } catch (NumberFormatException ignored) {
                        // a header line out of step; the next pair realigns
                    }
                }
            }
        }
        return counters;
    }

    public static String sh(String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", command));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", command));
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ": " + out.trim());
        }
        return out;
    }

    /** True when this JVM may create namespaces (root); integration tests are skipped otherwise. */
    public static boolean canRun() {
        return "root".equals(System.getProperty("user.name"))
                && io.synproxy.linux.Platform.findExecutable("ip") != null;
    }

    private static Thread namespacedThread(Runnable r, String ns) {
        Thread t = new Thread(() -> {
            try {
                NetNamespace.enter(ns);
            } catch (LinuxException e) {
                throw new IllegalStateException("cannot enter namespace " + ns, e);
            }
            r.run();
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
        if (serverThreads != null) {
            serverThreads.shutdownNow();
        }
        synchronized (processes) {
            for (Process p : processes) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
        }
        for (String ns : new String[] {server, client}) {
            try {
                for (String pid : sh("ip", "netns", "pids", ns).split("\\s+")) {
                    if (!pid.isBlank()) {
                        ProcessHandle.of(Long.parseLong(pid.trim())).ifPresent(ProcessHandle::destroyForcibly);
                    }
                }
            } catch (IOException | RuntimeException ignored) {
                // The namespace may not exist (failed setup).
            }
            try {
                sh("ip", "netns", "del", ns);
            } catch (IOException ignored) {
                // Already gone.
            }
        }
    }
}
