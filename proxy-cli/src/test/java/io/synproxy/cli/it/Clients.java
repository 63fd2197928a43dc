package io.synproxy.cli.it;

import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Future;

/** Linux's own TCP stack as the client (plain java.net.Socket in the client namespace). */
final class Clients {
    static final InetSocketAddress PROXY = new InetSocketAddress(TestNet.SERVER_IP, 8080);
    static final InetSocketAddress PROXY6 = new InetSocketAddress(TestNet.SERVER_IP6, 8080);

    private Clients() {
    }

    /** {@code count} clients through the proxy, on the client namespace's threads; returns how many succeeded. */
    static int echoAll(TestNet net, int count, int timeoutMillis) throws Exception {
        List<Future<Long>> results = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int n = i;
            results.add(net.inClient(() -> {
                try {
                    return echoOnce(n, timeoutMillis);
                } catch (IOException e) {
                    return -1L;
                }
            }));
        }
        int ok = 0;
        for (Future<Long> f : results) {
            ok += f.get() >= 0 ? 1 : 0;
        }
        return ok;
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * One request through the proxy: connect, send a line, read its echo, half-close, read the
     * backend's digest and the end of stream. Returns nanoseconds from connect start to the first
     * echoed byte; throws on any failure or mismatch.
     */
    static long echoOnce(int i, int timeoutMillis) throws IOException {
        return echoOnce(PROXY, i, timeoutMillis);
    }

    /** {@link #echoOnce(int, int)} to {@code proxy} (IPv4 or IPv6). */
    static long echoOnce(InetSocketAddress proxy, int i, int timeoutMillis) throws IOException {
        byte[] msg = ("hello " + i + "\n").getBytes(StandardCharsets.US_ASCII);
        try (Socket s = new Socket()) {
            s.setSoTimeout(timeoutMillis);
            long start = System.nanoTime();
            s.connect(proxy, timeoutMillis);
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write(msg);
            out.flush();
            int first = in.read();
            long elapsed = System.nanoTime() - start;
            if (first != msg[0]) {
                throw new IOException("first byte " + first + " instead of the echo");
            }
            byte[] rest = in.readNBytes(msg.length - 1);
            s.shutdownOutput();
            byte[] digest = in.readNBytes(32);
            if (in.read() != -1) {
                throw new IOException("data after the digest");
            }
            if (rest.length != msg.length - 1 || !Arrays.equals(digest, sha256(msg))) {
                throw new IOException("echo or digest mismatch");
            }
            return elapsed;
        }
    }
}
