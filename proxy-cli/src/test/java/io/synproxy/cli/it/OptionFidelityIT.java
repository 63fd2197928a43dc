package io.synproxy.cli.it;

import io.synproxy.cookie.CookieTables;
import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A handed-off connection must negotiate what a kernel listener would have: for each client profile
 * (Linux defaults, no timestamps as on Windows, no window scaling, no SACK, a smaller MSS, ECN
 * requested) one connection goes straight to a kernel listener and one through synproxy, and
 * {@code ss -tie} is read on both ends of both. Window scale both ways, SACK and timestamps must be
 * equal; the MSS equal up to the cookie table's rounding; ECN is the one documented difference
 * (a repaired socket cannot be switched to ECN, so synproxy declines it and both ends agree on "off").
 */
@RequiresRoot(tools = {"nft", "ss"})
class OptionFidelityIT {
    /** Enough full-sized segments each way that rcvmss shows the segment size each end really sends. */
    private static final int BULK = 64 * 1024;
    private static final int DIRECT_PORT = 8090;

    /** A client profile: sysctls of the client namespace and an optional route advmss. */
    record Profile(String name, Map<String, String> sysctls, int advmss) {
    }

    /** What {@code ss -tie} says about one end of one connection. */
    record Side(boolean ts, boolean sack, boolean ecn, String wscale, int mss, int advmss, int rcvmss, long sndWnd,
                String raw) {
        static Side parse(String ss) {
            boolean ts = false;
            boolean sack = false;
            boolean ecn = false;
            String wscale = "-";
            int mss = -1;
            int advmss = -1;
            int rcvmss = -1;
            long sndWnd = -1;
            for (String tok : ss.trim().split("\\s+")) {
                switch (tok) {
                    case "ts" -> ts = true;
                    case "sack" -> sack = true;
                    case "ecn" -> ecn = true;
                    default -> {
                        if (tok.startsWith("wscale:")) {
                            wscale = tok.substring(7);
                        } else if (tok.startsWith("mss:")) {
                            mss = Integer.parseInt(tok.substring(4));
                        } else if (tok.startsWith("advmss:")) {
                            advmss = Integer.parseInt(tok.substring(7));
                        } else if (tok.startsWith("rcvmss:")) {
                            rcvmss = Integer.parseInt(tok.substring(7));
                        } else if (tok.startsWith("snd_wnd:")) {
                            sndWnd = Long.parseLong(tok.substring(8));
                        }
                    }
                }
            }
            return new Side(ts, sack, ecn, wscale, mss, advmss, rcvmss, sndWnd, ss.trim());
        }
    }

    /** Both ends of one connection. */
    record Conn(Side client, Side server) {
    }

    @Test
    @SuppressWarnings("try") // the backends only need to exist while the connections are made
    void shouldNegotiateTheSameOptionsAsAKernelListenerForEveryClientProfile() throws Exception {
        List<Profile> profiles = List.of(
                new Profile("linux-default", Map.of(), 0),
                new Profile("no-timestamps", Map.of("net.ipv4.tcp_timestamps", "0"), 0),
                new Profile("no-wscale", Map.of("net.ipv4.tcp_window_scaling", "0"), 0),
                new Profile("no-sack", Map.of("net.ipv4.tcp_sack", "0"), 0),
                new Profile("no-ts-no-sack", Map.of("net.ipv4.tcp_timestamps", "0", "net.ipv4.tcp_sack", "0"), 0),
                new Profile("mss-1410", Map.of(), 1410),
                new Profile("ecn-requested", Map.of("net.ipv4.tcp_ecn", "1"), 0));
        StringBuilder table = new StringBuilder();
        table.append(String.format("%-15s %-8s | %-12s %-12s | %-12s %-12s%n", "client", "option",
                "direct:cli", "proxy:cli", "direct:srv", "proxy:srv"));
        List<String> failures = new ArrayList<>();
        int port = 42000;
        try (TestNet net = TestNet.pair();
             EchoBackend backend = EchoBackend.start(net);
             EchoBackend direct = EchoBackend.start(net, TestNet.SERVER_IP, DIRECT_PORT);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "0")) {
            proxy.awaitStarted();
            for (Profile profile : profiles) {
                Map<String, String> saved = new HashMap<>();
                for (var e : profile.sysctls().entrySet()) {
                    saved.put(e.getKey(), net.exec(net.clientNs(), "sysctl", "-n", e.getKey()).trim());
                    net.exec(net.clientNs(), "sysctl", "-qw", e.getKey() + "=" + e.getValue());
                }
                if (profile.advmss() > 0) {
                    net.exec(net.clientNs(), "ip", "route", "add", TestNet.SERVER_IP + "/32", "dev", net.clientDev(),
                            "advmss", Integer.toString(profile.advmss()));
                }
                try {
                    Conn d = connect(net, DIRECT_PORT, ++port);
                    Conn p = connect(net, 8080, ++port);
                    compare(profile, d, p, table, failures);
                } finally {
                    for (var e : saved.entrySet()) {
                        net.exec(net.clientNs(), "sysctl", "-qw", e.getKey() + "=" + e.getValue());
                    }
                    if (profile.advmss() > 0) {
                        net.exec(net.clientNs(), "ip", "route", "del", TestNet.SERVER_IP + "/32", "dev", net.clientDev());
                    }
                }
            }
        }
        System.out.print("OptionFidelityIT: ss -tie on both ends, direct to a kernel listener vs through synproxy\n" + table);
        assertTrue(failures.isEmpty(), String.join("\n", failures) + "\n" + table);
    }

    /**
     * Opens a connection from a fixed client port, echoes {@link #BULK} bytes through it (so each end's rcvmss
     * is the size of the segments the other end really sends), reads ss on both ends, closes.
     */
    private static Conn connect(TestNet net, int serverPort, int clientPort) throws Exception {
        try (Socket s = net.inClientNow(() -> {
            Socket sock = new Socket();
            sock.setReuseAddress(true);
            sock.bind(new InetSocketAddress(TestNet.CLIENT_IP, clientPort));
            return sock;
        })) {
            s.setSoTimeout(10_000);
            s.connect(new InetSocketAddress(TestNet.SERVER_IP, serverPort), 5000);
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            byte[] data = new byte[BULK];
            Arrays.fill(data, (byte) 'x');
            out.write(data);
            out.flush();
            if (in.readNBytes(BULK).length != BULK) {
                throw new IOException("echo cut short on port " + serverPort);
            }
            String client = ss(net, net.clientNs(), "dport = :" + serverPort + " and sport = :" + clientPort);
            String server = ss(net, net.serverNs(), "sport = :" + serverPort + " and dport = :" + clientPort);
            return new Conn(Side.parse(client), Side.parse(server));
        }
    }

    private static String ss(TestNet net, String ns, String filter) throws IOException {
        // -e: iproute2 6.1 prints the ts/sack/ecn flags only in extended mode.
        String out = net.exec(ns, "ss", "-tineH", "state", "established", "( " + filter + " )");
        if (out.isBlank()) {
            throw new IOException("no established socket in " + ns + " for " + filter);
        }
        return out;
    }

    private static void compare(Profile profile, Conn d, Conn p, StringBuilder table, List<String> failures) {
        Map<String, String[]> rows = new LinkedHashMap<>();
        rows.put("mss", new String[] {"" + d.client().mss(), "" + p.client().mss(), "" + d.server().mss(), "" + p.server().mss()});
        rows.put("rcvmss", new String[] {"" + d.client().rcvmss(), "" + p.client().rcvmss(), "" + d.server().rcvmss(), "" + p.server().rcvmss()});
        rows.put("advmss", new String[] {"" + d.client().advmss(), "" + p.client().advmss(), "" + d.server().advmss(), "" + p.server().advmss()});
        rows.put("wscale", new String[] {d.client().wscale(), p.client().wscale(), d.server().wscale(), p.server().wscale()});
        rows.put("sack", new String[] {yn(d.client().sack()), yn(p.client().sack()), yn(d.server().sack()), yn(p.server().sack())});
        rows.put("ts", new String[] {yn(d.client().ts()), yn(p.client().ts()), yn(d.server().ts()), yn(p.server().ts())});
        rows.put("ecn", new String[] {yn(d.client().ecn()), yn(p.client().ecn()), yn(d.server().ecn()), yn(p.server().ecn())});
        rows.put("snd_wnd", new String[] {"" + d.client().sndWnd(), "" + p.client().sndWnd(), "" + d.server().sndWnd(), "" + p.server().sndWnd()});
        for (var r : rows.entrySet()) {
            String[] v = r.getValue();
            table.append(String.format("%-15s %-8s | %-12s %-12s | %-12s %-12s%n", profile.name(), r.getKey(), v[0], v[1], v[2], v[3]));
        }
        String where = profile.name() + ": ";
        check(failures, where + "client wscale", d.client().wscale(), p.client().wscale());
        // A client without window scaling: the repaired socket is told "scaling with shifts 0,0" (the only way to
        // stop it scaling its own window), which ss shows as wscale:0,0; on the wire that is no scaling.
        check(failures, where + "server wscale", d.server().wscale(),
                p.server().wscale().equals("0,0") && d.server().wscale().equals("-") ? "-" : p.server().wscale());
        for (Side s : List.of(d.client(), d.server())) {
            check(failures, where + "sack (direct both ends vs proxy both ends)", s.sack(), p.client().sack());
            check(failures, where + "sack", s.sack(), p.server().sack());
            check(failures, where + "ts", s.ts(), p.client().ts());
            check(failures, where + "ts", s.ts(), p.server().ts());
        }
        // The client learns our MSS from the SYN/ACK: the same interface MTU, so the same value, and its
        // segments are as large as to a kernel listener.
        check(failures, where + "client mss", d.client().mss(), p.client().mss());
        // The proxy's socket sends segments of the client's MSS rounded down to the cookie table. Checked on
        // the wire (the client's rcvmss), not with ss "mss": a repaired socket sizes mss_cache for timestamps
        // whenever tcp_timestamps is on in its namespace, even when they were not negotiated, and corrects
        // that per segment (tcp_current_mss), so "mss" reads 12 lower than what it sends to a no-ts client.
        int tsOverhead = d.client().ts() ? 12 : 0;
        int clientMss = d.client().advmss() + tsOverhead;
        int rounded = CookieTables.mss(CookieTables.mssIndex(clientMss)) - tsOverhead;
        check(failures, where + "size of the direct server's segments (client rcvmss)", clientMss - tsOverhead, d.client().rcvmss());
        check(failures, where + "size of the proxy's segments (client rcvmss, table rounding of " + clientMss + ")",
                rounded, p.client().rcvmss());
        // ECN: a kernel listener accepts it; a repaired socket cannot enable it, so the SYN/ACK declines it
        // and both ends of the proxied connection agree that it is off.
        if (p.client().ecn() || p.server().ecn()) {
            failures.add(where + "ECN must be off on both proxied ends: " + p);
        }
        if (profile.name().startsWith("ecn") && !(d.client().ecn() && d.server().ecn())) {
            failures.add(where + "a kernel listener negotiates ECN: " + d);
        }
        // The window the client sees must not have been mis-scaled (64 KB becoming 63 bytes).
        if (p.client().sndWnd() >= 0 && p.client().sndWnd() < 1024) {
            failures.add(where + "client's send window through synproxy is only " + p.client().sndWnd());
        }
        if (p.server().sndWnd() >= 0 && p.server().sndWnd() < 1024) {
            failures.add(where + "proxy socket's send window is only " + p.server().sndWnd());
        }
    }

    private static void check(List<String> failures, String what, Object direct, Object proxied) {
        if (!direct.equals(proxied)) {
            failures.add(what + ": direct " + direct + ", through synproxy " + proxied);
        }
    }

    private static String yn(boolean b) {
        return b ? "yes" : "no";
    }
}
