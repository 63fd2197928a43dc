package io.synproxy.relay;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.function.Consumer;

/** The relay tests' backend: a loopback listener that hands each accepted socket to {@code serve} on a thread. */
final class LoopbackServer {
    private LoopbackServer() {
    }

    /** Listens on an ephemeral loopback port with {@code backlog} and serves until the socket is closed. */
    static ServerSocket start(int backlog, Consumer<Socket> serve) throws IOException {
        ServerSocket server = new ServerSocket(0, backlog, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread.ofVirtual().start(() -> serve.accept(s));
                } catch (IOException e) {
                    return;
                }
            }
        });
        return server;
    }
}
