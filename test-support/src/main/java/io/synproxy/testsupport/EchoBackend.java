package io.synproxy.testsupport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real TCP server (the kernel's TCP, plain blocking sockets) in the server namespace: it echoes
 * every byte, and after the client's FIN (half-close) it still sends the SHA-256 of all it
 * received, then closes. That last write is only possible if the proxy keeps the other
 * direction open after a FIN.
 */
public final class EchoBackend implements AutoCloseable {
    public static final int PORT = 9000;
    private final ServerSocket server;
    private final ExecutorService workers = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "echo-backend");
        t.setDaemon(true);
        return t;
    });
    private final AtomicInteger accepted = new AtomicInteger();

    private EchoBackend(ServerSocket server) {
        this.server = server;
        workers.submit(this::acceptLoop);
    }

    /** Binds 127.0.0.1:9000 inside the server namespace. */
    public static EchoBackend start(TestNet net) throws Exception {
        return start(net, "127.0.0.1", PORT);
    }

    /** Binds {@code host}:9000 inside the server namespace (for example ::1 for an IPv6 backend). */
    public static EchoBackend start(TestNet net, String host) throws Exception {
        return start(net, host, PORT);
    }

    /** Binds {@code host:port} inside the server namespace (a kernel listener clients can reach directly). */
    public static EchoBackend start(TestNet net, String host, int port) throws Exception {
        ServerSocket s = net.inServerNow(() -> {
            ServerSocket ss = new ServerSocket();
            ss.setReuseAddress(true);
            ss.bind(new InetSocketAddress(host, port), 1024);
            return ss;
        });
        return new EchoBackend(s);
    }

    public int accepted() {
        return accepted.get();
    }

    private Void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                accepted.incrementAndGet();
                workers.submit(() -> serve(s));
            } catch (IOException e) {
                return null;
            }
        }
        return null;
    }

    private Void serve(Socket s) {
        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[64 * 1024];
            int n;
            while ((n = in.read(buf)) > 0) {
                sha.update(buf, 0, n);
                out.write(buf, 0, n);
            }
            out.write(sha.digest());
            out.flush();
            s.shutdownOutput();
        } catch (IOException | NoSuchAlgorithmException e) {
            // The client went away; nothing to do for a test backend.
        }
        return null;
    }

    @Override
    public void close() throws IOException {
        server.close();
        workers.shutdownNow();
    }
}
