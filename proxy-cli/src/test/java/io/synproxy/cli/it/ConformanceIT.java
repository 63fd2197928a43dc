package io.synproxy.cli.it;

import io.synproxy.linux.Constants;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;
import io.synproxy.packet.TcpChecksum;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegmentWriter;
import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TcpPacket;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.synproxy.packet.TcpSegment.mapped;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every TCP client must see from synproxy, checked against Linux's own rules with real clients and crafted
 * frames: the client's exact window scale (the same {@code snd_wnd} as a kernel listener), segments never larger
 * than the client's MSS, the handed-off socket's first segment echoing the client's TSval, martian sources and
 * frames for other hosts dropped unanswered, an IPv6 atomic fragment answered like the plain packet.
 */
@RequiresRoot(tools = {"nft", "ss", "tcpdump"})
@SuppressWarnings("try") // backends and the idle client socket only need to exist while the test runs
class ConformanceIT {
    private static final int DIRECT_PORT = 8090;
    private static final int BANNER_PORT = 9025;
    private static final String OTHER_HOST_MAC = "02:00:00:00:00:99";
    private static final String BROADCAST_MAC = "ff:ff:ff:ff:ff:ff";
    private static final String MULTICAST_MAC4 = "01:00:5e:00:00:01";
    private static final String MULTICAST_MAC6 = "33:33:00:00:00:01";
    private static final Pattern PACKETS = Pattern.compile("counter packets (\\d+)");

    @Test
    void shouldGiveTheProxiedSocketTheSameSendWindowAsAKernelListenerForWindowScale9And14() throws Exception {
        // tcp_rmem's maximum sets the client's shift: 16 MiB -> 9, 1 GiB -> 14 (capped).
        Map<Integer, String> rmemFor = Map.of(9, "4096 131072 16777216", 14, "4096 131072 1073741824");
        List<String> failures = new ArrayList<>();
        StringBuilder table = new StringBuilder();
        try (TestNet net = TestNet.pair();
             EchoBackend backend = EchoBackend.start(net);
             EchoBackend direct = EchoBackend.start(net, TestNet.SERVER_IP, DIRECT_PORT);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + EchoBackend.PORT, "--stats-interval", "0")) {
            proxy.awaitStarted();
            int clientPort = 43000;
            for (int shift : List.of(9, 14)) {
                net.exec(net.clientNs(), "sysctl", "-qw", "net.ipv4.tcp_rmem=" + rmemFor.get(shift));
                String d = serverSideOfIdleConnection(net, DIRECT_PORT, ++clientPort);
                String p = serverSideOfIdleConnection(net, 8080, ++clientPort);
                String dWscale = field(d, "wscale:");
                String pWscale = field(p, "wscale:");
                String dWnd = field(d, "snd_wnd:");
                String pWnd = field(p, "snd_wnd:");
                table.append(String.format("client shift %2d: kernel listener wscale:%s snd_wnd:%s | synproxy wscale:%s "
                        + "snd_wnd:%s%n", shift, dWscale, dWnd, pWscale, pWnd));
                if (!dWscale.startsWith(shift + ",")) {
                    failures.add("the client announced shift " + shift + "? kernel listener: " + d);
                }
                if (!dWscale.split(",")[0].equals(pWscale.split(",")[0])) {
                    failures.add("shift " + shift + ": the proxied socket scales the client's window by "
                            + pWscale.split(",")[0] + ", the kernel by " + dWscale.split(",")[0]);
                }
                if (!dWnd.equals(pWnd)) {
                    failures.add("shift " + shift + ": snd_wnd " + pWnd + " through synproxy, " + dWnd + " direct");
                }
            }
        }
        System.out.print("ConformanceIT window scale (ss -ti on the server end of an idle connection):\n" + table);
        assertTrue(failures.isEmpty(), String.join("\n", failures) + "\n" + table);
    }

    /**
     * With {@code --handoff kernel} the kernel builds no cookie's socket below 536 (1220 over IPv6): the program leaves
     * such a SYN to the listener, which makes an ordinary handshake.
     */
    @ParameterizedTest
    @ValueSource(strings = {"repair", "kernel"})
    void shouldNeverSendSegmentsLargerThanTheClientsMssOfEitherFamily(String handoff) throws Exception {
        StringBuilder table = new StringBuilder();
        List<String> failures = new ArrayList<>();
        try (TestNet net = TestNet.pairWithIpv6();
             EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--listen", "[" + TestNet.SERVER_IP6 + "]:8080", "--backend", "127.0.0.1:" + EchoBackend.PORT,
                     "--stats-interval", "0", "--handoff", handoff)) {
            proxy.awaitStarted();
            // Below the old tables' smallest entries (216 for IPv4, 1220 for IPv6).
            net.exec(net.clientNs(), "ip", "route", "add", TestNet.SERVER_IP + "/32", "dev", net.clientDev(),
                    "advmss", "200");
            net.exec(net.clientNs(), "ip", "-6", "route", "add", TestNet.SERVER_IP6 + "/128", "dev", net.clientDev(),
                    "advmss", "1000");
            int clientPort = 44000;
            for (String[] c : new String[][] {{TestNet.SERVER_IP, TestNet.CLIENT_IP, "200"},
                    {TestNet.SERVER_IP6, TestNet.CLIENT_IP6, "1000"}}) {
                int port = ++clientPort;
                int announced = Integer.parseInt(c[2]);
                String[] ends = net.inClientNow(() -> {
                    try (Socket s = new Socket()) {
                        s.setReuseAddress(true);
                        s.bind(new InetSocketAddress(c[1], port));
                        s.setSoTimeout(10_000);
                        s.connect(new InetSocketAddress(c[0], 8080), 5000);
                        byte[] data = new byte[16 * 1024];
                        s.getOutputStream().write(data);
                        if (s.getInputStream().readNBytes(data.length).length != data.length) {
                            throw new IOException("echo cut short");
                        }
                        // The client's advmss is what its SYN announced; the server end's mss is what the socket
                        // sends (mss_cache: the MSS minus the 12 bytes of timestamps). Both while it is open.
                        return new String[] {ss(net, net.clientNs(), "dport = :8080 and sport = :" + port),
                            awaitSs(net, net.serverNs(), "sport = :8080 and dport = :" + port)};
                    }
                });
                String client = ends[0];
                String server = ends[1];
                int advmss = Integer.parseInt(field(client, "advmss:"));
                int sends = Integer.parseInt(field(server, "mss:"));
                int tsOverhead = client.contains(" ts ") ? 12 : 0;
                table.append(String.format("%s client announced %d (advmss:%d): the proxied socket sends %d + %d%n",
                        c[0], announced, advmss, sends, tsOverhead));
                if (sends + tsOverhead > announced) {
                    failures.add(c[0] + ": segments of " + (sends + tsOverhead) + " bytes to a client that announced "
                            + announced + " (RFC 9293 MUST-16)");
                }
            }
        }
        System.out.print("ConformanceIT MSS, --handoff " + handoff + ":\n" + table);
        assertTrue(failures.isEmpty(), String.join("\n", failures) + "\n" + table);
    }

    @Test
    void shouldEchoTheClientsLatestTsvalInTheFirstSegmentOfTheHandedOffSocket() throws Exception {
        try (TestNet net = TestNet.pair();
             BannerIT.BannerBackend backend = BannerIT.BannerBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--backend", "127.0.0.1:" + BANNER_PORT, "--stats-interval", "0");
             Capture capture = Capture.start(net, net.clientNs(), net.clientDev(), "tcp port 8080")) {
            proxy.awaitStarted();
            String banner = net.inClientNow(() -> {
                try (Socket s = new Socket()) {
                    s.setSoTimeout(10_000);
                    s.connect(Clients.PROXY, 5000);
                    return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII))
                            .readLine();
                }
            });
            assertEquals(BannerIT.BannerBackend.BANNER, banner);
            long latestClientTsVal = -1;
            long[] first = null;
            // tcpdump writes what it captured with a delay: poll the file for up to 5 s.
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (first == null && System.nanoTime() < deadline) {
                Thread.sleep(200);
                for (byte[] p : capture.packets()) {
                    long[] ts = timestamps(p);
                    if (Capture.dstPort(p) == 8080 && ts != null) {
                        latestClientTsVal = ts[0];
                    } else if (Capture.srcPort(p) == 8080 && Capture.payload(p) > 0) {
                        first = ts;
                        break;
                    }
                }
            }
            assertNotNull(first, "the banner segment with timestamps: " + capture.describe());
            System.out.printf("ConformanceIT timestamps: the client's latest TSval before the banner %d, the banner's "
                    + "TSecr %d%n", latestClientTsVal, first[1]);
            assertEquals(latestClientTsVal, first[1], "RFC 7323 3.2: the first segment echoes the client's latest TSval");
        }
    }

    /**
     * The SYN/ACKs are counted where they arrive, in the client's namespace: with {@code --handoff kernel} the program
     * leaves a SYN with IP options or extension headers to the listener, which answers it itself.
     */
    @ParameterizedTest
    @ValueSource(strings = {"repair", "kernel"})
    void shouldDropMartianSourcesAndFramesForOtherHostsAndAnswerAnAtomicFragment(String handoff) throws Exception {
        try (TestNet net = TestNet.pairWithIpv6();
             EchoBackend backend = EchoBackend.start(net);
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run", "--listen", TestNet.SERVER_IP + ":8080",
                     "--listen", "[" + TestNet.SERVER_IP6 + "]:8080", "--backend", "127.0.0.1:" + EchoBackend.PORT,
                     "--stats-interval", "500ms", "--handoff", handoff)) {
            proxy.awaitStarted();
            net.exec(net.clientNs(), "nft", "add table netdev synacks; "
                    + "add chain netdev synacks in { type filter hook ingress device \"" + net.clientDev() + "\" priority 0; }; "
                    + "add rule netdev synacks in tcp sport 8080 tcp flags & (syn|ack) == syn|ack counter");
            String serverMac = net.mac(net.serverNs(), net.serverDev());
            String clientMac = net.mac(net.clientNs(), net.clientDev());
            int ifindex = Integer.parseInt(net.exec(net.clientNs(), "ip", "-o", "link", "show", "dev", net.clientDev())
                    .split(":")[0].trim());
            List<Frame> martians = new ArrayList<>();
            for (String src : List.of("0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.5", "239.1.2.3", "240.0.0.1",
                    "255.255.255.255", TestNet.SERVER_IP)) {
                martians.add(Frame.syn4(serverMac, clientMac, src, TestNet.SERVER_IP));
            }
            for (String src : List.of("::", "::1", "ff02::1", "ff0e::5", "::ffff:10.200.0.2", TestNet.SERVER_IP6)) {
                martians.add(Frame.syn6(serverMac, clientMac, src, TestNet.SERVER_IP6, false));
            }
            List<Frame> notForUs = new ArrayList<>();
            for (String mac : List.of(OTHER_HOST_MAC, BROADCAST_MAC, MULTICAST_MAC4)) {
                notForUs.add(Frame.syn4(mac, clientMac, TestNet.CLIENT_IP, TestNet.SERVER_IP));
            }
            for (String mac : List.of(OTHER_HOST_MAC, BROADCAST_MAC, MULTICAST_MAC6)) {
                notForUs.add(Frame.syn6(mac, clientMac, TestNet.CLIENT_IP6, TestNet.SERVER_IP6, false));
            }
            // Controls: the same path delivers a plain SYN of each family, the atomic fragment, and IP options.
            List<Frame> answered = List.of(Frame.syn4(serverMac, clientMac, TestNet.CLIENT_IP, TestNet.SERVER_IP),
                    Frame.syn6(serverMac, clientMac, TestNet.CLIENT_IP6, TestNet.SERVER_IP6, false),
                    Frame.syn6(serverMac, clientMac, TestNet.CLIENT_IP6, TestNet.SERVER_IP6, true),
                    Frame.syn4WithIpOptions(serverMac, clientMac, TestNet.CLIENT_IP, TestNet.SERVER_IP));

            Map<String, Long> before = proxy.nextStats(Duration.ofSeconds(5));
            net.inClientNow(() -> Frame.send(ifindex, martians));
            Map<String, Long> afterMartians = await(proxy, "martian", before, martians.size());
            net.inClientNow(() -> Frame.send(ifindex, notForUs));
            Thread.sleep(1000);
            Map<String, Long> afterOthers = proxy.nextStats(Duration.ofSeconds(5));
            long synAcksBefore = synAcks(net);
            net.inClientNow(() -> Frame.send(ifindex, answered));
            long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (synAcks(net) - synAcksBefore < answered.size() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            Map<String, Long> after = proxy.nextStats(Duration.ofSeconds(5));
            System.out.printf("ConformanceIT crafted frames, --handoff %s: %d martian SYNs -> syn +%d synack +%d "
                            + "martian +%d; %d SYNs to other, broadcast and multicast MACs -> syn +%d synack +%d; "
                            + "plain v4, plain v6, atomic-fragment v6 and IP-options v4 SYNs -> SYN/ACKs at the client "
                            + "+%d, synack +%d rejected +%d%n", handoff,
                    martians.size(), delta(afterMartians, before, "syn"), delta(afterMartians, before, "synack"),
                    delta(afterMartians, before, "martian"), notForUs.size(), delta(afterOthers, afterMartians, "syn"),
                    delta(afterOthers, afterMartians, "synack"), synAcks(net) - synAcksBefore,
                    delta(after, afterOthers, "synack"), delta(after, afterOthers, "rejected"));
            assertEquals(0, delta(afterMartians, before, "syn"), "a martian SYN never reaches the handshake");
            assertEquals(0, delta(afterMartians, before, "synack") + delta(afterMartians, before, "synack_failed"));
            assertEquals(martians.size(), delta(afterMartians, before, "martian"), "every martian counted");
            assertEquals(0, delta(afterOthers, afterMartians, "syn"), "no frame for another MAC reaches the handshake");
            assertEquals(0, delta(afterOthers, afterMartians, "synack"));
            assertEquals(0, synAcksBefore, "neither a martian nor a frame for another MAC is answered");
            assertEquals(answered.size(), synAcks(net) - synAcksBefore,
                    "the plain SYNs, the atomic fragment and the IPv4 SYN with options are answered");
            assertEquals(0, delta(after, afterOthers, "rejected"));
        }
    }

    /** The SYN/ACKs from port 8080 that have arrived at the client's interface. */
    private static long synAcks(TestNet net) throws IOException {
        Matcher m = PACKETS.matcher(net.exec(net.clientNs(), "nft", "list", "table", "netdev", "synacks"));
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    private static long delta(Map<String, Long> after, Map<String, Long> before, String key) {
        return after.getOrDefault(key, 0L) - before.getOrDefault(key, 0L);
    }

    /** The next stats lines until {@code key} has grown by {@code expected} (at most 5 s), then the last one. */
    private static Map<String, Long> await(ProxyProcess proxy, String key, Map<String, Long> before, long expected)
            throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        Map<String, Long> now = proxy.nextStats(Duration.ofSeconds(5));
        while (delta(now, before, key) < expected && System.nanoTime() < deadline) {
            now = proxy.nextStats(Duration.ofSeconds(5));
        }
        // One more period: anything counted late shows up too.
        return proxy.nextStats(Duration.ofSeconds(5));
    }

    /** Connects from {@code clientPort}, sends nothing, returns {@code ss -ti} of the server's end. */
    private static String serverSideOfIdleConnection(TestNet net, int serverPort, int clientPort) throws Exception {
        try (Socket s = net.inClientNow(() -> {
            Socket sock = new Socket();
            sock.setReuseAddress(true);
            sock.bind(new InetSocketAddress(TestNet.CLIENT_IP, clientPort));
            sock.connect(new InetSocketAddress(TestNet.SERVER_IP, serverPort), 5000);
            return sock;
        })) {
            return awaitSs(net, net.serverNs(), "sport = :" + serverPort + " and dport = :" + clientPort);
        }
    }

    /** {@code ss -tieH} of the one established socket matching {@code filter}, waiting up to 2 s for it. */
    private static String awaitSs(TestNet net, String ns, String filter) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
        while (true) {
            try {
                return ss(net, ns, filter);
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }

    private static String ss(TestNet net, String ns, String filter) throws IOException {
        String out = net.exec(ns, "ss", "-tieH", "state", "established", "( " + filter + " )");
        if (out.isBlank()) {
            throw new IOException("no established socket in " + ns + " for " + filter);
        }
        return " " + out.trim().replaceAll("\\s+", " ") + " ";
    }

    /** The value after {@code name} (e.g. "snd_wnd:") in an ss line, or "-" if absent. */
    private static String field(String ss, String name) {
        int at = ss.indexOf(" " + name);
        if (at < 0) {
            return "-";
        }
        int start = at + 1 + name.length();
        return ss.substring(start, ss.indexOf(' ', start));
    }

    /** {TSval, TSecr} of an IPv4 + TCP packet's timestamp option (unsigned), or null. */
    private static long[] timestamps(byte[] p) {
        int tcp = Capture.ihl(p);
        int end = tcp + ((p[tcp + 12] & 0xf0) >>> 2);
        for (int i = tcp + 20; i < end && i < p.length; ) {
            int kind = p[i] & 0xff;
            if (kind == 0) {
                break;
            }
            if (kind == 1) {
                i++;
                continue;
            }
            int len = p[i + 1] & 0xff;
            if (kind == 8 && len == 10) {
                return new long[] {Capture.u32(p, i + 2) & 0xffffffffL, Capture.u32(p, i + 6) & 0xffffffffL};
            }
            i += Math.max(len, 2);
        }
        return null;
    }

    /** A whole Ethernet frame carrying a SYN to port 8080, built with the project's own writers. */
    private record Frame(byte[] bytes) {
        private static int sourcePort = 33000;

        static Frame syn4(String dstMac, String srcMac, String src, String dst) throws Exception {
            byte[] ip = new byte[TcpSegmentWriter.MAX_LENGTH_IPV4];
            int port = ++sourcePort;
            TcpSegmentWriter writer = new TcpSegmentWriter()
                    .from(0, mapped(v4(src)), port).to(0, mapped(v4(dst)), 8080);
            int len = synTo(writer, 0x1000_0000 + port).write(MemorySegment.ofArray(ip), 0);
            return new Frame(ethernet(dstMac, srcMac, 0x0800, ip, len));
        }

        /** As {@link #syn4}, with a 4-byte IP option (NOP NOP NOP EOL): a header of 24 bytes. */
        static Frame syn4WithIpOptions(String dstMac, String srcMac, String src, String dst) throws Exception {
            byte[] plain = syn4(dstMac, srcMac, src, dst).bytes();
            byte[] f = new byte[plain.length + 4];
            System.arraycopy(plain, 0, f, 0, 14 + 20);
            f[14 + 20] = 1;
            f[14 + 21] = 1;
            f[14 + 22] = 1;
            System.arraycopy(plain, 14 + 20, f, 14 + 24, plain.length - 14 - 20);
            f[14] = 0x46;
            int total = ((plain[16] & 0xff) << 8 | (plain[17] & 0xff)) + 4;
            f[16] = (byte) (total >>> 8);
            f[17] = (byte) total;
            return new Frame(TcpPacket.fixIpv4HeaderChecksum(f, 14));
        }

        /** With {@code atomicFragment} a fragment header with offset 0 and M = 0 sits before the TCP header. */
        static Frame syn6(String dstMac, String srcMac, String src, String dst, boolean atomicFragment)
                throws Exception {
            byte[] ip = new byte[TcpSegmentWriter.MAX_LENGTH];
            long[] s = v6(src);
            long[] d = v6(dst);
            int port = ++sourcePort;
            // The writer makes an IPv4 packet of an IPv4-mapped source: write from a stand-in, then put the source.
            int len = synTo(new TcpSegmentWriter().from(0, 2, port).to(d[0], d[1], 8080), 0x2000_0000 + port)
                    .write(MemorySegment.ofArray(ip), 0);
            ByteBuffer.wrap(ip).putLong(8, s[0]).putLong(16, s[1]).putShort(40 + 16, (short) 0);
            int sum = TcpChecksum.ipv6(MemorySegment.ofArray(ip), 0, 40, len - 40);
            ByteBuffer.wrap(ip).putShort(40 + 16, (short) sum);
            if (atomicFragment) {
                byte[] out = new byte[len + 8];
                System.arraycopy(ip, 0, out, 0, 40);
                out[40] = ip[6]; // next header: TCP
                out[47] = 7; // identification 7; offset 0, M = 0
                System.arraycopy(ip, 40, out, 48, len - 40);
                out[6] = 44;
                int payload = len - 40 + 8;
                out[4] = (byte) (payload >>> 8);
                out[5] = (byte) payload;
                ip = out;
                len += 8;
            }
            return new Frame(ethernet(dstMac, srcMac, 0x86dd, ip, len));
        }

        /** A Linux-like SYN's fields, options included. */
        private static TcpSegmentWriter synTo(TcpSegmentWriter w, int isn) {
            return w.seq(isn).ack(0).flags(TcpFlyweight.SYN).window(64240).mss(1440).wscale(7).sackPermitted(true)
                    .timestamps(12345, 0);
        }

        /** Sends every frame on the client's veth through an AF_PACKET socket; runs in the client namespace. */
        static Integer send(int ifindex, List<Frame> frames) throws Exception {
            int fd = Native.socket(Constants.AF_PACKET, Constants.SOCK_RAW, 0);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment to = SockAddr.ll(arena, 0, ifindex);
                MemorySegment buf = arena.allocate(256, 8);
                for (Frame f : frames) {
                    MemorySegment.copy(f.bytes(), 0, buf, ValueLayout.JAVA_BYTE, 0, f.bytes().length);
                    long rc = Native.sendto(fd, buf, f.bytes().length, 0, to);
                    if (rc != f.bytes().length) {
                        throw new IOException("AF_PACKET send failed: " + Native.strerror((int) -rc));
                    }
                }
            } finally {
                Native.close(fd);
            }
            return frames.size();
        }

        private static byte[] ethernet(String dstMac, String srcMac, int etherType, byte[] ip, int len) {
            byte[] f = new byte[14 + len];
            System.arraycopy(HexFormat.ofDelimiter(":").parseHex(dstMac), 0, f, 0, 6);
            System.arraycopy(HexFormat.ofDelimiter(":").parseHex(srcMac), 0, f, 6, 6);
            f[12] = (byte) (etherType >>> 8);
            f[13] = (byte) etherType;
            System.arraycopy(ip, 0, f, 14, len);
            return f;
        }

        private static int v4(String a) throws Exception {
            return ByteBuffer.wrap(InetAddress.getByName(a).getAddress()).getInt();
        }

        private static long[] v6(String a) throws Exception {
            byte[] b = new byte[16];
            if (a.startsWith("::ffff:")) {
                // InetAddress would hand back an Inet4Address for the mapped form.
                b[10] = (byte) 0xff;
                b[11] = (byte) 0xff;
                System.arraycopy(InetAddress.getByName(a.substring(7)).getAddress(), 0, b, 12, 4);
            } else {
                b = InetAddress.getByName(a).getAddress();
            }
            ByteBuffer buf = ByteBuffer.wrap(b);
            return new long[] {buf.getLong(), buf.getLong()};
        }
    }
}
