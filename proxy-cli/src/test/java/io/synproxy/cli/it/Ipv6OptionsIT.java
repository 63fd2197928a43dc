package io.synproxy.cli.it;

import io.synproxy.linux.Constants;
import io.synproxy.linux.Native;
import io.synproxy.linux.SockAddr;
import io.synproxy.testsupport.EchoBackend;
import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The options an IPv6 connection through synproxy negotiates, side by side with a direct connection to a kernel
 * listener on the same host, for a Linux-default client and for one without timestamps (the Windows default, here
 * {@code net.ipv4.tcp_timestamps=0} in the client's namespace, which governs IPv6 too).
 *
 * <p>Client side, from the client socket's own {@code TCP_INFO}: timestamps, SACK, window scaling and both shifts,
 * the send MSS and advertised MSS must be equal. Server side, from {@code ss -ti} (the handed-off socket belongs to
 * the proxy process): both window shifts must be equal; the MSS may differ by the 12 bytes of the timestamp option,
 * because a socket built with TCP_REPAIR sizes its header from the namespace's {@code tcp_timestamps} at connect
 * time, not from the negotiation. The segments it sends are nevertheless full-sized (the kernel corrects the current
 * MSS from the options it actually writes): after 64 KB towards the client, the client's {@code rcv_mss} is the same
 * on both paths. The {@code ss} of iproute2 6.1 here prints no {@code ts}/{@code sack} flags on Linux
 * 6.18, hence {@code TCP_INFO}.
 */
@RequiresRoot(tools = {"nft", "ss"})
class Ipv6OptionsIT {
    private static final int DIRECT_PORT = 8081;
    private static final int TCP_INFO = 11;
    private static final int BULK = 64 * 1024;
    private static final Pattern WSCALE = Pattern.compile("wscale:(\\d+),(\\d+)");
    private static final Pattern MSS = Pattern.compile("\\bmss:(\\d+)");

    /** What TCP_INFO says about a client socket. */
    record ClientView(boolean timestamps, boolean sack, boolean windowScaling, int sndWscale, int rcvWscale,
                      int sndMss, int advMss, int rcvMss) {
    }

    @ParameterizedTest(name = "timestamps={0}")
    @ValueSource(booleans = {true, false})
    void shouldNegotiateTheSameOptionsOverIpv6AsADirectConnection(boolean timestamps) throws Exception {
        try (TestNet net = TestNet.pairWithIpv6(); EchoBackend backend = EchoBackend.start(net, "::1");
             ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run",
                     "--listen", "[" + TestNet.SERVER_IP6 + "]:8080",
                     "--backend", "[::1]:" + EchoBackend.PORT, "--stats-interval", "0");
             ServerSocket direct = net.inServerNow(() -> {
                 ServerSocket s = new ServerSocket();
                 s.bind(new InetSocketAddress(TestNet.SERVER_IP6, DIRECT_PORT), 16);
                 return s;
             })) {
            net.exec(net.clientNs(), "sysctl", "-qw", "net.ipv4.tcp_timestamps=" + (timestamps ? 1 : 0));
            proxy.awaitStarted();
            int viaProxyFd = -1;
            int directFd = -1;
            Socket accepted = null;
            try {
                viaProxyFd = net.inClientNow(() -> connect(8080));
                directFd = net.inClientNow(() -> connect(DIRECT_PORT));
                accepted = net.inServerNow(direct::accept);
                // 64 KB towards the client on both paths (echoed by the backend, written by the direct server):
                // the client's rcv_mss then shows the largest segment each server socket really sent.
                int pfd = viaProxyFd;
                net.inClientNow(() -> sendBulk(pfd));
                accepted.getOutputStream().write(new byte[BULK]);
                Thread.sleep(500);
                int pf = viaProxyFd;
                int df = directFd;
                ClientView viaProxy = net.inClientNow(() -> tcpInfo(pf));
                ClientView directView = net.inClientNow(() -> tcpInfo(df));
                Map<String, String> server = ssInfo(net, net.serverNs());
                String viaProxyServer = server.get(":8080");
                String directServer = server.get(":" + DIRECT_PORT);
                assertNotNull(viaProxyServer, "handed-off socket: " + server);
                assertNotNull(directServer, "accepted socket: " + server);
                System.out.printf("Ipv6OptionsIT timestamps=%s%n  client via proxy: %s%n  client direct:    %s%n"
                                + "  server via proxy: %s%n  server direct:    %s%n", timestamps, viaProxy, directView,
                        serverView(viaProxyServer), serverView(directServer));
                assertEquals(directView, viaProxy, "the client's socket, direct vs through synproxy");
                assertEquals(timestamps, viaProxy.timestamps());
                assertTrue(viaProxy.sack() && viaProxy.windowScaling(), "SACK and window scaling: " + viaProxy);
                Map<String, String> proxied = serverView(viaProxyServer);
                Map<String, String> kernel = serverView(directServer);
                assertEquals(kernel.get("wscale"), proxied.get("wscale"), "server window shifts, both ways");
                int mssDelta = Integer.parseInt(kernel.get("mss")) - Integer.parseInt(proxied.get("mss"));
                assertTrue(mssDelta == 0 || mssDelta == 12, "server MSS within a timestamp option: " + mssDelta);
                assertEquals(1, backend.accepted(), "the proxied connection reached the backend");
            } finally {
                Native.close(viaProxyFd);
                Native.close(directFd);
                if (accepted != null) {
                    accepted.close();
                }
            }
        }
    }

    /** A blocking AF_INET6 client socket connected to the server's {@code port}, one byte sent. */
    private static int connect(int port) throws Exception {
        ByteBuffer a = ByteBuffer.wrap(InetAddress.getByName(TestNet.SERVER_IP6).getAddress());
        int fd = Native.socket(Constants.AF_INET6, Constants.SOCK_STREAM, 0);
        try (Arena arena = Arena.ofConfined()) {
            Native.connect(fd, SockAddr.in6(SockAddr.allocateIn6(arena), a.getLong(), a.getLong(),
                    port));
            Native.send(fd, arena.allocateFrom("x"), 1, 0);
            return fd;
        } catch (Exception e) {
            Native.close(fd);
            throw e;
        }
    }

    private static Void sendBulk(int fd) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(BULK);
            long sent = 0;
            while (sent < BULK) {
                sent += Native.send(fd, data.asSlice(sent), BULK - sent, 0);
            }
        }
        return null;
    }

    private static ClientView tcpInfo(int fd) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(104, 8);
            Native.getsockopt(fd, Constants.IPPROTO_TCP, TCP_INFO, info, "TCP_INFO");
            int options = info.get(ValueLayout.JAVA_BYTE, 5);
            int wscales = info.get(ValueLayout.JAVA_BYTE, 6) & 0xFF;
            return new ClientView((options & 1) != 0, (options & 2) != 0, (options & 4) != 0, wscales & 0x0F,
                    wscales >>> 4, info.get(ValueLayout.JAVA_INT, 16), info.get(ValueLayout.JAVA_INT, 84),
                    info.get(ValueLayout.JAVA_INT, 20));
        }
    }

    /** Window shifts and MSS of an {@code ss -ti} info line. */
    static Map<String, String> serverView(String info) {
        Map<String, String> m = new LinkedHashMap<>();
        Matcher w = WSCALE.matcher(info);
        m.put("wscale", w.find() ? w.group(1) + "," + w.group(2) : "none");
        Matcher mss = MSS.matcher(info);
        m.put("mss", mss.find() ? mss.group(1) : "-1");
        return m;
    }

    /** Established IPv6 TCP sockets of {@code ns} on the test ports: ":PORT" (local end) to the info line. */
    private static Map<String, String> ssInfo(TestNet net, String ns) throws IOException {
        String out = net.exec(ns, "ss", "-6tinH", "state", "established");
        Map<String, String> byPort = new LinkedHashMap<>();
        String[] lines = out.split("\n");
        for (int i = 0; i + 1 < lines.length; i++) {
            String tuple = lines[i];
            if (tuple.startsWith(" ") || tuple.startsWith("\t")) {
                continue;
            }
            for (String port : new String[] {":8080", ":" + DIRECT_PORT}) {
                if (tuple.contains(TestNet.SERVER_IP6 + "]" + port) && !tuple.contains("[::1]")) {
                    byPort.put(port, " " + lines[i + 1].trim() + " ");
                }
            }
        }
        return byPort;
    }
}
