package io.synproxy.bench;

import io.synproxy.linux.LinuxException;
import io.synproxy.linux.NetNamespace;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The bench's own hosts: a server, a legitimate-client host and an attacker, each a network namespace
 * with one veth ({@code eth0}) into a bridge that lives in a fourth "switch" namespace. Names are
 * {@code spb-<random>-srv|cli|atk|sw}; only these namespaces are touched (sysctls, nftables) and
 * {@link #close()} (also a shutdown hook) kills what runs in them and deletes them.
 *
 * <p>The server's default route points at the attacker, so the SYN/ACKs the server sends to spoofed
 * sources travel back to the attacker host, as they would leave through a real uplink.
 */
final class Net implements AutoCloseable {
    static final String SERVER_IP = "10.201.0.1";
    static final String CLIENT_IP = "10.201.0.2";
    static final String ATTACKER_IP = "10.201.0.3";
    static final String DEV = "eth0";

    final String srv;
    final String cli;
    final String atk;
    final String sw;
    private final List<Process> processes = new ArrayList<>();
    private final List<ExecutorService> pools = new ArrayList<>();
    private final Thread hook;
    private volatile boolean closed;

    Net() throws IOException {
        String id = Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 24) | 1 << 24).substring(1);
        srv = "spb-" + id + "-srv";
        cli = "spb-" + id + "-cli";
        atk = "spb-" + id + "-atk";
        sw = "spb-" + id + "-sw";
        hook = new Thread(this::deleteQuietly, "spb-net-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            for (String ns : List.of(sw, srv, cli, atk)) {
                sh(Tools.bin("ip"), "netns", "add", ns);
                sh(Tools.bin("ip"), "-n", ns, "link", "set", "lo", "up");
            }
            sh(Tools.bin("ip"), "-n", sw, "link", "add", "br0", "type", "bridge");
            String[][] hosts = {{srv, SERVER_IP, "p-srv"}, {cli, CLIENT_IP, "p-cli"}, {atk, ATTACKER_IP, "p-atk"}};
            for (String[] h : hosts) {
                sh(Tools.bin("ip"), "link", "add", DEV, "netns", h[0], "type", "veth", "peer", "name", h[2], "netns", sw);
                sh(Tools.bin("ip"), "-n", sw, "link", "set", h[2], "master", "br0");
                sh(Tools.bin("ip"), "-n", sw, "link", "set", h[2], "up");
                sh(Tools.bin("ip"), "-n", h[0], "addr", "add", h[1] + "/24", "dev", DEV);
                sh(Tools.bin("ip"), "-n", h[0], "link", "set", DEV, "up");
            }
            sh(Tools.bin("ip"), "-n", sw, "link", "set", "br0", "up");
            sh(Tools.bin("ip"), "-n", srv, "route", "add", "default", "via", ATTACKER_IP);
            // Many short client connections: the client host must not run out of ports.
            sysctl(cli, "net.ipv4.ip_local_port_range", "10000 65000");
            sysctl(cli, "net.ipv4.tcp_tw_reuse", "1");
            // Static neighbours: no ARP during a run (the server answers a flood through its gateway).
            for (String[] a : hosts) {
                for (String[] b : hosts) {
                    if (a != b) {
                        sh(Tools.bin("ip"), "-n", a[0], "neigh", "replace", b[1], "lladdr", mac(b[0]), "dev", DEV,
                                "nud", "permanent");
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            deleteQuietly();
            throw e;
        }
    }

    void sysctl(String ns, String key, String value) throws IOException {
        exec(ns, Tools.bin("sysctl"), "-q", "-w", key + "=" + value);
    }

    /** The MAC address of {@code eth0} in {@code ns}. */
    String mac(String ns) throws IOException {
        return exec(ns, Tools.bin("cat"), "/sys/class/net/" + DEV + "/address").trim();
    }

    /** A pool of platform threads that live in {@code ns}: sockets they create belong to it. */
    ExecutorService threads(String ns, int n) {
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> namespacedThread(r, ns));
        synchronized (pools) {
            pools.add(pool);
        }
        return pool;
    }

    /** Runs {@code task} on a fresh thread inside {@code ns} and waits for it. */
    <T> T in(String ns, Callable<T> task) throws Exception {
        ExecutorService pool = threads(ns, 1);
        try {
            Future<T> f = pool.submit(task);
            try {
                return f.get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof Exception ex) {
                    throw ex;
                }
                throw e;
            }
        } finally {
            pool.shutdownNow();
        }
    }

    static Thread namespacedThread(Runnable r, String ns) {
        Thread t = new Thread(() -> {
            enter(ns);
            r.run();
        }, "ns-" + ns);
        t.setDaemon(true);
        return t;
    }

    /** Moves the calling platform thread into {@code ns}. */
    static void enter(String ns) {
        try {
            NetNamespace.enter(ns);
        } catch (LinuxException e) {
            throw new IllegalStateException("cannot enter namespace " + ns, e);
        }
    }

    /** Starts a command inside {@code ns}; it is killed by {@link #close()} at the latest. */
    Process start(String ns, ProcessBuilder.Redirect out, String... command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Tools.bin("ip"), "netns", "exec", ns));
        cmd.addAll(List.of(command));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out).start();
        synchronized (processes) {
            processes.add(p);
        }
        return p;
    }

    /** Runs a command inside {@code ns} and returns its output; throws on a non-zero exit. */
    String exec(String ns, String... command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Tools.bin("ip"), "netns", "exec", ns));
        cmd.addAll(List.of(command));
        return sh(cmd.toArray(String[]::new));
    }

    static String sh(String... command) throws IOException {
        return shIn(null, command);
    }

    /** Runs a command, feeding {@code stdin} if not null; throws on a non-zero exit or after 120 s. */
    static String shIn(String stdin, String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (stdin != null) {
            p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", command));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IOException("interrupted: " + String.join(" ", command));
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ": " + out.trim());
        }
        return out;
    }

    @Override
    public void close() {
        deleteQuietly();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // Shutting down: the hook runs this itself.
        }
    }

    private synchronized void deleteQuietly() {
        if (closed) {
            return;
        }
        closed = true;
        synchronized (pools) {
            pools.forEach(ExecutorService::shutdownNow);
        }
        synchronized (processes) {
            for (Process p : processes) {
                p.descendants().forEach(ProcessHandle::destroy);
                p.destroy();
            }
            for (Process p : processes) {
                try {
                    if (!p.waitFor(5, TimeUnit.SECONDS)) {
                        p.descendants().forEach(ProcessHandle::destroyForcibly);
                        p.destroyForcibly();
                    }
                } catch (InterruptedException e) {
                    p.destroyForcibly();
                }
            }
        }
        for (String ns : new String[] {srv, cli, atk, sw}) {
            try {
                for (String pid : sh(Tools.bin("ip"), "netns", "pids", ns).split("\\s+")) {
                    if (!pid.isBlank()) {
                        ProcessHandle.of(Long.parseLong(pid.trim())).ifPresent(ProcessHandle::destroyForcibly);
                    }
                }
            } catch (IOException | RuntimeException ignored) {
                // The namespace may not exist (failed setup).
            }
            try {
                sh(Tools.bin("ip"), "netns", "del", ns);
            } catch (IOException ignored) {
                // Already gone.
            }
        }
    }
}
