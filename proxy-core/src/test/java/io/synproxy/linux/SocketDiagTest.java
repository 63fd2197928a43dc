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
