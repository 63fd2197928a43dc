package io.synproxy.linux;

import io.synproxy.packet.TcpSegment;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Real kernel sockets on loopback (no root needed): sock_diag finds exactly the tuple asked for. */
class SocketDiagTest {

    @Test
    void findsAnEstablishedConnectionByItsExactTuple() throws Exception {
        try (SocketDiag diag = SocketDiag.open(); ServerSocket listener = new ServerSocket()) {
            listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            try (Socket client = new Socket(listener.getInetAddress(), listener.getLocalPort());
                 Socket accepted = listener.accept()) {
                InetSocketAddress server = (InetSocketAddress) accepted.getLocalSocketAddress();
                InetSocketAddress peer = (InetSocketAddress) accepted.getRemoteSocketAddress();
                assertEquals(SocketDiag.Found.CONNECTION, lookup(diag, server, peer));
                // One port off on either side: another tuple, no connection (the listener still takes the first).
                assertEquals(SocketDiag.Found.LISTENER, lookup(diag, server,
                        new InetSocketAddress(peer.getAddress(), peer.getPort() == 65535 ? 1 : peer.getPort() + 1)));
                assertEquals(SocketDiag.Found.NONE, lookup(diag, new InetSocketAddress(server.getAddress(),
                        server.getPort() == 65535 ? 1 : server.getPort() + 1), peer));
                // Asked many times in a row, the answers do not fall out of step.
                for (int i = 0; i < 100; i++) {
                    assertEquals(SocketDiag.Found.CONNECTION, lookup(diag, server, peer));
                }
                assertEquals(client.getLocalPort(), peer.getPort());
            }
        }
    }

    @Test
    void aListenerIsNotAConnection() throws Exception {
        try (SocketDiag diag = SocketDiag.open(); ServerSocket listener = new ServerSocket()) {
            listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            InetSocketAddress server = (InetSocketAddress) listener.getLocalSocketAddress();
            SocketDiag.Found found = lookup(diag, server, new InetSocketAddress(InetAddress.getLoopbackAddress(), 40000));
            assertEquals(SocketDiag.Found.LISTENER, found);
        }
    }

    @Test
    void findsAnIpv6Connection() throws Exception {
        InetAddress loopback6 = InetAddress.getByName("::1");
        try (SocketDiag diag = SocketDiag.open(); ServerSocket listener = new ServerSocket()) {
            try {
                listener.bind(new InetSocketAddress(loopback6, 0));
            } catch (IOException e) {
                return;
            }
            try (Socket client = new Socket(loopback6, listener.getLocalPort()); Socket accepted = listener.accept()) {
                assertEquals(SocketDiag.Found.CONNECTION, lookup(diag,
                        (InetSocketAddress) accepted.getLocalSocketAddress(),
                        (InetSocketAddress) accepted.getRemoteSocketAddress()));
                assertEquals(listener.getLocalPort(), client.getPort());
            }
        }
    }

    /**
     * The handoff removes a TIME_WAIT left on a tuple a client reuses: sock_diag destroys the TIME_WAIT of exactly
     * that tuple, and never a connection in another state. Destroying needs CAP_NET_ADMIN: as another user it only
     * answers false.
     */
    @Test
    @SuppressWarnings("try") // the server side is closed first, inside its try
    void destroysATimeWaitAndNothingElse() throws Exception {
        try (SocketDiag diag = SocketDiag.open(); ServerSocket listener = new ServerSocket()) {
            listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            try (Socket other = new Socket(listener.getInetAddress(), listener.getLocalPort());
                 Socket otherAccepted = listener.accept()) {
                InetSocketAddress server;
                InetSocketAddress peer;
                try (Socket client = new Socket(listener.getInetAddress(), listener.getLocalPort());
                     Socket accepted = listener.accept()) {
                    server = (InetSocketAddress) accepted.getLocalSocketAddress();
                    peer = (InetSocketAddress) accepted.getRemoteSocketAddress();
                    assertFalse(destroyTimeWait(diag, server, peer), "an established connection is left alone");
                    assertEquals(SocketDiag.Found.CONNECTION, lookup(diag, server, peer));
                    // The server side closes first and keeps the TIME_WAIT, as the proxy's side does.
                    accepted.close();
                    assertEquals(-1, client.getInputStream().read());
                }
                long deadline = System.nanoTime() + 2_000_000_000L;
                while (lookup(diag, server, peer) != SocketDiag.Found.TIME_WAIT && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertEquals(SocketDiag.Found.TIME_WAIT, lookup(diag, server, peer));
                boolean admin = "root".equals(System.getProperty("user.name"));
                assertEquals(admin, destroyTimeWait(diag, server, peer));
                // Gone: the lookup falls back to the listener, as for any tuple without a connection.
                assertEquals(admin ? SocketDiag.Found.LISTENER : SocketDiag.Found.TIME_WAIT, lookup(diag, server, peer));
                assertFalse(destroyTimeWait(diag, server, peer), "nothing left to destroy");
                assertEquals(SocketDiag.Found.CONNECTION, lookup(diag,
                        (InetSocketAddress) otherAccepted.getLocalSocketAddress(),
                        (InetSocketAddress) otherAccepted.getRemoteSocketAddress()));
            }
        }
    }

    private static boolean destroyTimeWait(SocketDiag diag, InetSocketAddress local, InetSocketAddress remote) {
        long[] l = halves(local.getAddress());
        long[] r = halves(remote.getAddress());
        return diag.destroyTimeWait(l[0], l[1], local.getPort(), r[0], r[1], remote.getPort());
    }

    private static SocketDiag.Found lookup(SocketDiag diag, InetSocketAddress local, InetSocketAddress remote) {
        long[] l = halves(local.getAddress());
        long[] r = halves(remote.getAddress());
        return diag.lookup(l[0], l[1], local.getPort(), r[0], r[1], remote.getPort());
    }

    private static long[] halves(InetAddress address) {
        if (address instanceof Inet4Address) {
            return new long[] {0, TcpSegment.mapped(ByteBuffer.wrap(address.getAddress()).getInt())};
        }
        ByteBuffer b = ByteBuffer.wrap(((Inet6Address) address).getAddress());
        return new long[] {b.getLong(), b.getLong()};
    }
}
