package io.synproxy.testsupport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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

import static io.synproxy.testsupport.Shell.bin;
import static io.synproxy.testsupport.Shell.sh;

/**
 * The one namespace harness of the ITs and the bench: test hosts, each a network namespace, on 10.200.0.0/24.
 * "server" (the proxy and the backend) is 10.200.0.1, "client" (real Linux TCP clients) 10.200.0.2. Two shapes:
 * <ul>
 *   <li>{@link #pair()} / {@link #pairWithIpv6()}: server and client joined by one veth pair; the client host is
 *       also the attacker. Namespaces {@code spt-s-<id>}, {@code spt-c-<id>}.</li>
 *   <li>{@link #switched()}: server, client and a separate attacker (10.200.0.3), each with one veth
 *       ({@code eth0}) into a bridge in a fourth "switch" namespace, static neighbours. Namespaces
 *       {@code spb-<id>-srv|cli|atk|sw}.</li>
 * </ul>
 * The server's default route points at the attacker host, so the SYN/ACKs it sends to spoofed sources travel back
 * to it, as they would leave through a real uplink. Only these namespaces are touched (sysctls, nftables);
 * {@link #close()} (also a shutdown hook) kills what runs in them and deletes them, also after a failed setup.
 *
 * <p>Java code reaches a namespace through a platform thread that entered it with setns(2)
 * ({@link #inClient}, {@link #inServer}, {@link #threads}): the sockets it creates belong to that namespace.
 */
public final class TestNet implements AutoCloseable {
    public static final String SERVER_IP = "10.200.0.1";
    public static final String CLIENT_IP = "10.200.0.2";
    /** The attacker host of {@link #switched()}; in a pair the client host floods. */
    public static final String ATTACKER_IP = "10.200.0.3";
    /** The IPv6 pair of {@link #pairWithIpv6()} (unique-local, DAD off so that they are usable at once). */
    public static final String SERVER_IP6 = "fd00:200::1";
    public static final String CLIENT_IP6 = "fd00:200::2";
    /** The device of every host in {@link #switched()}. */
    public static final String SWITCHED_DEV = "eth0";

    private final String server;
    private final String client;
    private final String attacker;
    private final String switchNs;
    private final String serverDev;
    private final String clientDev;
    private final List<String> namespaces = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private final List<ExecutorService> pools = new ArrayList<>();
    private final Thread cleanupHook;
    private ExecutorService clientThreads;
    private ExecutorService serverThreads;
    private boolean closed;

    private TestNet(boolean switched, boolean ipv6) throws IOException {
        String id = Long.toHexString(ProcessHandle.current().pid())
                + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 16));
        if (switched) {
            server = "spb-" + id + "-srv";
            client = "spb-" + id + "-cli";
            attacker = "spb-" + id + "-atk";
            switchNs = "spb-" + id + "-sw";
            serverDev = SWITCHED_DEV;
            clientDev = SWITCHED_DEV;
            namespaces.addAll(List.of(switchNs, server, client, attacker));
        } else {
            server = "spt-s-" + id;
            client = "spt-c-" + id;
            attacker = client;
            switchNs = null;
            String suffix = id.substring(Math.max(0, id.length() - 8));
            serverDev = "sps" + suffix;
            clientDev = "spc" + suffix;
            namespaces.addAll(List.of(server, client));
        }
        cleanupHook = new Thread(this::deleteQuietly, "testnet-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanupHook);
        try {
            for (String ns : namespaces) {
                sh(bin("ip"), "netns", "add", ns);
            }
            if (switched) {
                buildSwitch();
            } else {
                buildPair(ipv6);
            }
        } catch (IOException | RuntimeException e) {
            deleteQuietly();
            throw e;
        }
        clientThreads = threads(client, 32);
        serverThreads = Executors.newCachedThreadPool(r -> Netns.thread(r, server));
        synchronized (pools) {
            pools.add(serverThreads);
        }
    }

    /** Server and client on one veth pair, IPv4 only. */
    public static TestNet pair() throws IOException {
        return new TestNet(false, false);
    }

    /**
     * Server and client on one veth pair with IPv6 too: {@link #SERVER_IP6} and {@link #CLIENT_IP6} (nodad, and
     * duplicate address detection off for the link-local addresses too), spoofed IPv6 sources routed back to the
     * client host as for IPv4.
     */
    public static TestNet pairWithIpv6() throws IOException {
        return new TestNet(false, true);
    }

    /** Server, client and attacker on a bridge (the bench's hosts). */
    public static TestNet switched() throws IOException {
        return new TestNet(true, false);
    }

    public String serverNs() {
        return server;
    }

    public String clientNs() {
        return client;
    }

    /** The flooding host: the attacker of {@link #switched()}, the client host of a pair. */
    public String attackerNs() {
        return attacker;
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

    /** A pool of {@code n} platform threads that live in {@code ns}; shut down by {@link #close()} at the latest. */
    public ExecutorService threads(String ns, int n) {
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> Netns.thread(r, ns));
        synchronized (pools) {
            pools.add(pool);
        }
        return pool;
    }

    /** Runs {@code task} on a fresh thread inside {@code ns} and waits for it. */
    public <T> T in(String ns, Callable<T> task) throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> Netns.thread(r, ns));
        try {
            return unwrap(pool.submit(task));
        } finally {
            pool.shutdownNow();
        }
    }

    /** Starts a command inside a namespace; it is killed by {@link #close()} at the latest. */
    public Process start(String ns, ProcessBuilder.Redirect out, String... command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(bin("ip"), "netns", "exec", ns));
        cmd.addAll(List.of(command));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out).start();
        synchronized (processes) {
            processes.add(p);
        }
        return p;
    }

    /** Runs a command inside a namespace and returns its output; fails on a non-zero exit. */
    public String exec(String ns, String... command) throws IOException {
        return execIn(ns, null, command);
    }

    /** Runs a command inside a namespace with {@code stdin} as its input (for example {@code nft -f -}). */
    public String execIn(String ns, String stdin, String... command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(bin("ip"), "netns", "exec", ns));
        cmd.addAll(List.of(command));
        return Shell.shIn(stdin, cmd.toArray(String[]::new));
    }

    public void sysctl(String ns, String key, String value) throws IOException {
        exec(ns, bin("sysctl"), "-q", "-w", key + "=" + value);
    }

    /** The MAC address of {@code dev} in {@code ns}, as aa:bb:cc:dd:ee:ff. */
    public String mac(String ns, String dev) throws IOException {
        return exec(ns, bin("cat"), "/sys/class/net/" + dev + "/address").trim();
    }

    /**
     * The namespace's TCP counters from /proc/net/snmp and /proc/net/netstat, keyed "Tcp:RetransSegs",
     * "TcpExt:TCPSynRetrans" and so on.
     */
    public Map<String, Long> tcpCounters(String ns) throws IOException {
        Map<String, Long> counters = new HashMap<>();
        for (String file : List.of("/proc/net/snmp", "/proc/net/netstat")) {
            String[] lines = exec(ns, bin("cat"), file).split("\n");
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

    @Override
    public void close() {
        deleteQuietly();
        try {
            Runtime.getRuntime().removeShutdownHook(cleanupHook);
        } catch (IllegalStateException ignored) {
            // Already shutting down: the hook is running this.
        }
    }

    private void buildPair(boolean ipv6) throws IOException {
        if (ipv6) {
            for (String ns : namespaces) {
                // Devices moved in later take the namespace's defaults: no DAD on their link-local addresses.
                exec(ns, bin("sysctl"), "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0",
                        "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0");
            }
        }
        sh(bin("ip"), "link", "add", serverDev, "type", "veth", "peer", "name", clientDev);
        sh(bin("ip"), "link", "set", serverDev, "netns", server);
        sh(bin("ip"), "link", "set", clientDev, "netns", client);
        sh(bin("ip"), "-n", server, "addr", "add", SERVER_IP + "/24", "dev", serverDev);
        sh(bin("ip"), "-n", client, "addr", "add", CLIENT_IP + "/24", "dev", clientDev);
        for (String[] nsDev : new String[][] {{server, serverDev}, {client, clientDev}}) {
            sh(bin("ip"), "-n", nsDev[0], "link", "set", nsDev[1], "up");
            sh(bin("ip"), "-n", nsDev[0], "link", "set", "lo", "up");
        }
        sh(bin("ip"), "-n", server, "route", "add", "default", "via", CLIENT_IP);
        if (ipv6) {
            sh(bin("ip"), "-n", server, "addr", "add", SERVER_IP6 + "/64", "dev", serverDev, "nodad");
            sh(bin("ip"), "-n", client, "addr", "add", CLIENT_IP6 + "/64", "dev", clientDev, "nodad");
            sh(bin("ip"), "-n", server, "-6", "route", "add", "default", "via", CLIENT_IP6);
            awaitNoTentativeAddress();
        }
    }

    private void buildSwitch() throws IOException {
        for (String ns : namespaces) {
            sh(bin("ip"), "-n", ns, "link", "set", "lo", "up");
        }
        sh(bin("ip"), "-n", switchNs, "link", "add", "br0", "type", "bridge");
        String[][] hosts = {{server, SERVER_IP, "p-srv"}, {client, CLIENT_IP, "p-cli"}, {attacker, ATTACKER_IP, "p-atk"}};
        for (String[] h : hosts) {
            sh(bin("ip"), "link", "add", SWITCHED_DEV, "netns", h[0], "type", "veth", "peer", "name", h[2],
                    "netns", switchNs);
            sh(bin("ip"), "-n", switchNs, "link", "set", h[2], "master", "br0");
            sh(bin("ip"), "-n", switchNs, "link", "set", h[2], "up");
            sh(bin("ip"), "-n", h[0], "addr", "add", h[1] + "/24", "dev", SWITCHED_DEV);
            sh(bin("ip"), "-n", h[0], "link", "set", SWITCHED_DEV, "up");
        }
        sh(bin("ip"), "-n", switchNs, "link", "set", "br0", "up");
        // The switch is a wire. Where br_netfilter is loaded on the host (podman and Docker load it), a new
        // namespace's bridge hands every frame to the IP hooks, which costs each packet several microseconds of the
        // softirq of whoever sent it (a flood's SYNs, the SYN/ACKs): off here, as on a real switch.
        if (Files.isDirectory(Path.of("/proc/sys/net/bridge"))) {
            try {
                for (String family : List.of("iptables", "ip6tables", "arptables")) {
                    sysctl(switchNs, "net.bridge.bridge-nf-call-" + family, "0");
                }
            } catch (IOException e) {
                // A kernel before 5.3 has these only in the host's namespace: the bridge keeps the host's setting.
            }
        }
        sh(bin("ip"), "-n", server, "route", "add", "default", "via", ATTACKER_IP);
        // Many short client connections: the client host must not run out of ports.
        sysctl(client, "net.ipv4.ip_local_port_range", "10000 65000");
        sysctl(client, "net.ipv4.tcp_tw_reuse", "1");
        // Static neighbours: no ARP during a run (the server answers a flood through its gateway).
        for (String[] a : hosts) {
            for (String[] b : hosts) {
                if (a != b) {
                    sh(bin("ip"), "-n", a[0], "neigh", "replace", b[1], "lladdr", mac(b[0], SWITCHED_DEV),
                            "dev", SWITCHED_DEV, "nud", "permanent");
                }
            }
        }
    }

    /** Waits (at most 10 s) until neither namespace has an IPv6 address still in duplicate address detection. */
    private void awaitNoTentativeAddress() throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (String ns : namespaces) {
            while (!sh(bin("ip"), "-n", ns, "-6", "addr", "show", "tentative").isBlank()) {
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
                    Thread.currentThread().interrupt();
                    p.destroyForcibly();
                }
            }
        }
        for (String ns : namespaces) {
            try {
                for (String pid : sh(bin("ip"), "netns", "pids", ns).split("\\s+")) {
                    if (!pid.isBlank()) {
                        ProcessHandle.of(Long.parseLong(pid.trim())).ifPresent(ProcessHandle::destroyForcibly);
                    }
                }
            } catch (IOException | RuntimeException ignored) {
                // The namespace may not exist (failed setup).
            }
            try {
                sh(bin("ip"), "netns", "del", ns);
            } catch (IOException ignored) {
                // Already gone.
            }
        }
    }
}
