package io.synproxy.guard;

import io.synproxy.linux.Platform;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serial;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Keeps the kernel out of the handshake: every SYN to the protected port, and every other packet to it
 * that has no socket, is dropped on input, so the kernel neither answers SYNs (it would RST) nor the
 * final ACK before the handoff. Packets of handed-off connections find their socket and pass.
 *
 * <p>SYNs are dropped even when a socket matches: {@code socket} finds TIME_WAIT sockets too. A client
 * that reuses its port within 60 s of a connection the proxy closed first meets that connection's
 * TIME_WAIT, which, with no listener to pass the SYN to, answers it with the old connection's ACK. The
 * client resets that ACK and completes the handshake with the proxy's SYN/ACK, but a stateful firewall
 * or NAT in between (Docker's published ports: conntrack DNAT) has seen the RST close the flow, ignores
 * the SYN/ACK and marks the final ACK invalid: not translated, it reached the host's own stack, which
 * reset the client. The proxy answers every SYN; its handoff takes the tuple over from the TIME_WAIT.
 *
 * <p>The same TIME_WAIT meets the client's final ACK, which verifies, and answers it with the old connection's ACK
 * too; the client then sends a duplicate ACK, which the capture ring took for a replay of the final ACK. The tc
 * program ({@code --syn-path tc}) gives such an ACK the priority {@value #TAKEOVER_PRIORITY} (TAKEOVER_PRIORITY in
 * synproxy_xdp.c): the ring has it already when the input hook runs, and the guard drops it there, so that only the
 * handoff, which takes the tuple over, acts on it.
 *
 * <p>Input, not prerouting: on a host with br_netfilter (every Docker host sets
 * {@code bridge-nf-call-iptables=1}), a packet to an address on a bridge runs the prerouting hooks
 * while it is still being bridged, before the bridge passes it up to the bridge device, where the
 * capture ring sees it. Dropped in prerouting, it never reached the ring and nothing was answered.
 * The input hook runs after the packet has passed the bridge device's taps, and before TCP.
 *
 * <pre>
 * table inet synproxy_10_0_0_1_8080 {
 *   chain input { type filter hook input priority -150; policy accept;
 *     ip daddr 10.0.0.1 tcp dport 8080 tcp flags &amp; (syn | ack) == syn drop
 *     ip daddr 10.0.0.1 tcp dport 8080 meta priority 5359:4e50 drop
 *     ip daddr 10.0.0.1 tcp dport 8080 socket transparent 0 accept
 *     ip daddr 10.0.0.1 tcp dport 8080 socket transparent 1 accept
 *     ip daddr 10.0.0.1 tcp dport 8080 drop
 *   }
 * }
 * </pre>
 * An IPv6 listen matches {@code ip6 daddr fd00:0:0:0:0:0:0:1 tcp dport 8080} (table
 * {@code synproxy_fd00_0_0_0_0_0_0_1_8080}); a wildcard matches {@code meta nfproto ipv4|ipv6 fib daddr type local}
 * (tables {@code synproxy_any_PORT} and {@code synproxy_any6_PORT}).
 *
 * <p>With {@code --handoff kernel} the proxy listens on the port itself and the tc program hands verified final
 * ACKs to that listener, so segments that find it are the kernel's. Two more rules come first: a SYN the program
 * gives the priority {@value #KERNEL_SYN_PRIORITY} (a client reusing the tuple of a TIME_WAIT, which gives way to the
 * listener) is accepted, and so is everything from {@code lo}: a client on this host, which no tc program sees,
 * makes its handshake with the kernel's listener as it would without the proxy.
 *
 * <p>The table name is derived from the protected address and port, so a table left by a killed
 * run is replaced atomically at the next start. If the process dies without removing it, the port
 * stays closed (fail-closed) until the next start or {@code nft delete table inet NAME}.
 */
public final class NftGuard implements AutoCloseable {
    /** skb->priority (major:minor) the tc program gives a final ACK that meets a TIME_WAIT: 0x53594e50. */
    static final String TAKEOVER_PRIORITY = "5359:4e50";
    /** skb->priority the tc program built with KERNEL_HANDOFF gives a SYN that meets a TIME_WAIT: 0x53594e51. */
    static final String KERNEL_SYN_PRIORITY = "5359:4e51";
    private static final long NFT_TIMEOUT_SECONDS = 10;

    private final Path nft;
    private final String table;
    private final String ruleset;
    private boolean installed;

    private NftGuard(Path nft, String table, String ruleset) {
        this.nft = nft;
        this.table = table;
        this.ruleset = ruleset;
    }

    /**
     * The guard for {@code address:port}; {@code address} 0.0.0.0 protects every local IPv4 address, :: every local
     * IPv6 address. Each listen has its own table in the {@code inet} family, so IPv4 and IPv6 guards of one proxy
     * are installed and removed independently and {@code synproxy guard --remove --listen} names one of them.
     */
    public static NftGuard forListen(InetAddress address, int port) throws GuardException {
        return forListen(address, port, false);
    }

    /** As {@link #forListen(InetAddress, int)}; with {@code kernelHandoff}, the rules of {@code --handoff kernel}. */
    public static NftGuard forListen(InetAddress address, int port, boolean kernelHandoff) throws GuardException {
        Path nft = Platform.findExecutable("nft");
        if (nft == null) {
            throw new GuardException("the nft command was not found: install nftables (for example apt-get install nftables)");
        }
        return new NftGuard(nft, tableName(address, port), ruleset(address, port, kernelHandoff));
    }

    public static String tableName(InetAddress address, int port) {
        boolean v6 = address instanceof Inet6Address;
        String host = address.isAnyLocalAddress() ? (v6 ? "any6" : "any")
                : v6 ? hostText(address).replace(':', '_') : address.getHostAddress().replace('.', '_');
        return "synproxy_" + host + "_" + port;
    }

    static String ruleset(InetAddress address, int port) {
        return ruleset(address, port, false);
    }

    static String ruleset(InetAddress address, int port, boolean kernelHandoff) {
        boolean v6 = address instanceof Inet6Address;
        String match = address.isAnyLocalAddress()
                ? "meta nfproto " + (v6 ? "ipv6" : "ipv4") + " fib daddr type local tcp dport " + port
                : (v6 ? "ip6" : "ip") + " daddr " + hostText(address) + " tcp dport " + port;
        String table = tableName(address, port);
        // "table X; delete table X" first makes the replacement of a stale table atomic and idempotent.
        return "table inet " + table + "\n"
                + "delete table inet " + table + "\n"
                + "table inet " + table + " {\n"
                + "  chain input {\n"
                + "    type filter hook input priority -150; policy accept;\n"
                + (kernelHandoff ? "    iif \"lo\" " + match + " accept\n"
                        + "    " + match + " meta priority " + KERNEL_SYN_PRIORITY + " accept\n" : "")
                + "    " + match + " tcp flags & (syn | ack) == syn drop\n"
                + "    " + match + " meta priority " + TAKEOVER_PRIORITY + " drop\n"
                + "    " + match + " socket transparent 0 accept\n"
                + "    " + match + " socket transparent 1 accept\n"
                + "    " + match + " counter drop\n"
                + "  }\n"
                + "}\n";
    }

    /** The address without a scope suffix (an IPv6 {@code %eth0}); IPv6 in its full eight-group form. */
    private static String hostText(InetAddress address) {
        String text = address.getHostAddress();
        int percent = text.indexOf('%');
        return percent < 0 ? text : text.substring(0, percent);
    }

    public String table() {
        return table;
    }

    /** Installs the table, replacing a stale one with the same name. */
    public synchronized void install() throws GuardException {
        run(List.of(nft.toString(), "-f", "-"), ruleset, "install the nftables guard");
        installed = true;
    }

    /** Removes the table if this guard installed it; safe to call more than once. */
    public synchronized void remove() throws GuardException {
        if (!installed) {
            return;
        }
        installed = false;
        run(List.of(nft.toString(), "-f", "-"),
                "table inet " + table + "\ndelete table inet " + table + "\n", "remove the nftables guard");
    }

    /** Leaves the table to the other instances that share it (see {@link GuardShare}): {@link #remove} keeps it. */
    synchronized void forget() {
        installed = false;
    }

    /** Removes a table by name whoever installed it (for {@code synproxy guard --remove}). */
    public static boolean removeStale(InetAddress address, int port) throws GuardException {
        NftGuard guard = forListen(address, port);
        String listed = guard.run(List.of(guard.nft.toString(), "list", "tables"), "", "list nftables tables");
        if (!listed.contains("inet " + guard.table)) {
            return false;
        }
        guard.installed = true;
        guard.remove();
        return true;
    }

    @Override
    public void close() throws GuardException {
        remove();
    }

    private String run(List<String> command, String input, String what) throws GuardException {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            try (OutputStream in = p.getOutputStream()) {
                in.write(input.getBytes(StandardCharsets.UTF_8));
            }
            String output;
            try (InputStream out = p.getInputStream()) {
                output = new String(out.readAllBytes(), StandardCharsets.UTF_8).trim();
            }
            if (!p.waitFor(NFT_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new GuardException("could not " + what + ": nft did not finish within "
                        + NFT_TIMEOUT_SECONDS + " s");
            }
            if (p.exitValue() != 0) {
                String first = output.isEmpty() ? "exit code " + p.exitValue() : output.lines().findFirst().orElse("");
                throw new GuardException("could not " + what + " (table inet " + table + "): " + first);
            }
            return output;
        } catch (IOException e) {
            throw new GuardException("could not " + what + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GuardException("could not " + what + ": interrupted");
        }
    }

    /** The guard could not be installed or removed; the message is the sentence to show. */
    public static final class GuardException extends Exception {
        @Serial
        private static final long serialVersionUID = 1L;

        public GuardException(String message) {
            super(message);
        }
    }
}
