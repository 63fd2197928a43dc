package io.synproxy.cli.it;

import io.synproxy.testsupport.RequiresRoot;
import io.synproxy.testsupport.TestNet;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real client address reaches the backend: synproxy with {@code --proxy-protocol v1} and
 * {@code v2} in front of nginx listening with {@code proxy_protocol}, which answers with (and logs)
 * {@code $proxy_protocol_addr:$proxy_protocol_port} and the address the client connected to.
 * nginx refuses a connection whose first bytes are not a valid header, so a 200 alone proves the
 * header was sent first and well-formed.
 */
@RequiresRoot(tools = {"nft", "curl", "nginx"})
class ProxyProtocolIT {

    @Test
    void shouldTellNginxTheRealClientAddressWithProxyProtocolV1AndV2() throws Exception {
        Path dir = Files.createTempDirectory("synproxy-nginx-pp-");
        try (TestNet net = TestNet.pair()) {
            Files.writeString(dir.resolve("nginx.conf"), """
                    daemon off;
                    master_process off;
                    worker_processes 1;
                    pid %1$s/nginx.pid;
                    error_log %1$s/error.log;
                    events { worker_connections 1024; }
                    http {
                        log_format pp '$proxy_protocol_addr:$proxy_protocol_port via $remote_addr';
                        access_log %1$s/access.log pp;
                        client_body_temp_path %1$s;
                        proxy_temp_path %1$s;
                        fastcgi_temp_path %1$s;
                        uwsgi_temp_path %1$s;
                        scgi_temp_path %1$s;
                        server {
                            listen 127.0.0.1:8081 proxy_protocol;
                            location / {
                                return 200 "client=$proxy_protocol_addr:$proxy_protocol_port server=$proxy_protocol_server_addr:$proxy_protocol_server_port\\n";
                            }
                        }
                    }
                    """.formatted(dir));
            Process nginx = net.start(net.serverNs(), ProcessBuilder.Redirect.DISCARD,
                    "nginx", "-c", dir.resolve("nginx.conf").toString(), "-p", dir.toString());
            try {
                int clientPort = 45000;
                for (String version : List.of("v1", "v2")) {
                    try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run",
                            "--listen", TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:8081",
                            "--proxy-protocol", version, "--stats-interval", "500ms")) {
                        proxy.awaitStarted();
                        for (int i = 0; i < 3; i++) {
                            clientPort++;
                            String body = curl(net, clientPort);
                            String expected = "client=" + TestNet.CLIENT_IP + ":" + clientPort
                                    + " server=" + TestNet.SERVER_IP + ":8080";
                            System.out.printf("ProxyProtocolIT: %s, curl from port %d: nginx answered '%s'%n",
                                    version, clientPort, body);
                            assertEquals(expected, body, "PROXY " + version);
                        }
                        assertEquals(0, proxy.nextStats(Duration.ofSeconds(5)).get("backend_failed"));
                    }
                }
                String log = Files.readString(dir.resolve("access.log"));
                assertTrue(log.contains(TestNet.CLIENT_IP + ":" + clientPort + " via 127.0.0.1"), log);
            } finally {
                nginx.destroy();
                nginx.waitFor();
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /**
     * Byte-exact headers, then the client's bytes. The client writes and closes at once, so its request
     * and FIN reach the proxy before the backend is connected: that must not lose the request (it did,
     * with and without PROXY protocol: Netty reads on EPOLLRDHUP even with auto-read off).
     */
    @Test
    void shouldWriteExactlyTheV1AndV2HeadersBeforeTheBytesOfAClientThatClosesAtOnce() throws Exception {
        int backendPort = 9026;
        try (TestNet net = TestNet.pair();
             ServerSocket backend = net.inServerNow(() -> {
                 ServerSocket ss = new ServerSocket();
                 ss.setReuseAddress(true);
                 ss.bind(new InetSocketAddress("127.0.0.1", backendPort));
                 return ss;
             })) {
            backend.setSoTimeout(20_000);
            int clientPort = 46000;
            for (String version : List.of("off", "v1", "v2")) {
                try (ProxyProcess proxy = ProxyProcess.start(net, net.serverNs(), "run",
                        "--listen", TestNet.SERVER_IP + ":8080", "--backend", "127.0.0.1:" + backendPort,
                        "--proxy-protocol", version, "--stats-interval", "500ms")) {
                    proxy.awaitStarted();
                    int port = ++clientPort;
                    Future<byte[]> seen = net.inServer(() -> {
                        try (Socket s = backend.accept()) {
                            s.setSoTimeout(10_000);
                            InputStream in = s.getInputStream();
                            ByteArrayOutputStream all = new ByteArrayOutputStream();
                            try {
                                while (!all.toString(StandardCharsets.ISO_8859_1).endsWith("hello\n")) {
                                    int b = in.read();
                                    if (b < 0) {
                                        break;
                                    }
                                    all.write(b);
                                }
                            } catch (SocketTimeoutException e) {
                                // return what came: the assertion below shows it
                            }
                            return all.toByteArray();
                        }
                    });
                    net.inClientNow(() -> {
                        try (Socket s = new Socket()) {
                            s.bind(new InetSocketAddress(TestNet.CLIENT_IP, port));
                            s.connect(Clients.PROXY, 5000);
                            s.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
                            return null; // and close at once
                        }
                    });
                    byte[] got = seen.get(30, TimeUnit.SECONDS);
                    byte[] header = version.equals("off") ? new byte[0] : version.equals("v1")
                            ? ("PROXY TCP4 " + TestNet.CLIENT_IP + " " + TestNet.SERVER_IP + " " + port + " 8080\r\n")
                                    .getBytes(StandardCharsets.US_ASCII)
                            : v2Header(port);
                    ByteArrayOutputStream expected = new ByteArrayOutputStream();
                    expected.write(header);
                    expected.write("hello\n".getBytes(StandardCharsets.US_ASCII));
                    System.out.println("ProxyProtocolIT: stats " + proxy.nextStats(Duration.ofSeconds(5)));
                    System.out.printf("ProxyProtocolIT: %s header as the backend read it: %s%n", version,
                            HexFormat.of().formatHex(got, 0, Math.min(got.length, header.length)));
                    assertEquals(HexFormat.of().formatHex(expected.toByteArray()), HexFormat.of().formatHex(got),
                            "PROXY " + version + " header, then the client's bytes; proxy output:\n" + proxy.output());
                }
            }
        }
    }

    /** PROXY v2, PROXY command, TCP over IPv4, 12 address bytes, no TLVs (Netty's encoder writes none). */
    private static byte[] v2Header(int clientPort) {
        ByteBuffer b = ByteBuffer.allocate(16 + 12);
        b.put(new byte[] {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a});
        b.put((byte) 0x21).put((byte) 0x11).putShort((short) 12);
        b.put(new byte[] {10, (byte) 200, 0, 2}).put(new byte[] {10, (byte) 200, 0, 1});
        b.putShort((short) clientPort).putShort((short) 8080);
        return b.array();
    }

    private static String curl(TestNet net, int localPort) throws Exception {
        IOException last = null;
        for (int attempt = 0; attempt < 50; attempt++) {
            try {
                return net.exec(net.clientNs(), "curl", "-sS", "-m", "5", "--local-port", Integer.toString(localPort),
                        "http://" + TestNet.SERVER_IP + ":8080/").trim();
            } catch (IOException e) {
                // nginx may still be starting (the proxy then closes the client: curl sees an empty reply)
                last = e;
                Thread.sleep(100);
            }
        }
        throw last;
    }
}
