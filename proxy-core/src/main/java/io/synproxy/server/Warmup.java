package io.synproxy.server;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollSocketChannel;
import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handoff.RepairHandoff;
import io.synproxy.handshake.Handshake;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.packet.Ipv4TcpParser;
import io.synproxy.packet.Ipv4TcpWriter;
import io.synproxy.packet.Ipv6TcpParser;
import io.synproxy.packet.Ipv6TcpWriter;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * Runs the cold paths once before the port is opened, so that the first real client does not
 * pay for class loading and JIT (measured: ~180 ms on the first connection without it, ~5 ms after).
 * Best effort: a failure here only means a slower first connection.
 */
final class Warmup {
    private static final int HANDSHAKE_ROUNDS = 20_000;

    private Warmup() {
    }

    /** SYN parse, SYN/ACK build, ACK verification on synthetic packets in heap memory: no socket. */
    static void handshake(int ourMss, int ourWscale) {
        Rig rig = new Rig(ourMss, ourWscale);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(64, 8);
            MemorySegment reply = arena.allocate(64, 8);
            for (int i = 0; i < HANDSHAKE_ROUNDS; i++) {
                rig.complete(packet, reply, 0x0A000002 + i, 0x0A000001, 1024 + (i & 0x7fff), 8080, i * 7919, i << 1);
            }
        }
    }

    /**
     * One real TCP_REPAIR handoff between two loopback ports nobody uses, closed at once:
     * links every FFM call of the handoff before a client needs it.
     */
    static void repair(RepairHandoff handoff, int ourMss, int ourWscale) {
        int local;
        int remote;
        try (ServerSocket a = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             ServerSocket b = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            local = a.getLocalPort();
            remote = b.getLocalPort();
        } catch (IOException e) {
            return;
        }
        int loopback = 0x7F000001;
        Rig rig = new Rig(ourMss, ourWscale);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(64, 8);
            MemorySegment reply = arena.allocate(64, 8);
            if (rig.complete(packet, reply, loopback, loopback, remote, local, 12345, 2000)) {
                Native.close(handoff.handoff(rig.verdict, packet));
            }
        } catch (LinuxException | RuntimeException e) {
            // Best effort, as above.
        }
    }

    /** The IPv6 counterpart of {@link #handshake}: IPv6 SYN parse, SYN/ACK build, ACK verification. */
    static void handshake6(int ourMss, int ourMss6, int ourWscale) {
        Rig6 rig = new Rig6(ourMss, ourMss6, ourWscale);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(Ipv6TcpWriter.MAX_LENGTH, 8);
            MemorySegment reply = arena.allocate(Ipv6TcpWriter.MAX_LENGTH, 8);
            for (int i = 0; i < HANDSHAKE_ROUNDS; i++) {
                rig.complete(packet, reply, 0xfd00_0000_0000_0000L, 2 + i, 1, 1024 + (i & 0x7fff), 8080, i * 7919,
                        i << 1);
            }
        }
    }

    /** {@link #repair} over IPv6 loopback (::1): links the AF_INET6 handoff before an IPv6 client needs it. */
    static void repair6(RepairHandoff handoff, int ourMss, int ourMss6, int ourWscale) {
        int local;
        int remote;
        InetAddress loopback6;
        try {
            loopback6 = InetAddress.getByName("::1");
        } catch (IOException e) {
            return;
        }
        try (ServerSocket a = new ServerSocket(0, 1, loopback6);
             ServerSocket b = new ServerSocket(0, 1, loopback6)) {
            local = a.getLocalPort();
            remote = b.getLocalPort();
        } catch (IOException e) {
            return;
        }
        Rig6 rig = new Rig6(ourMss, ourMss6, ourWscale);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(Ipv6TcpWriter.MAX_LENGTH, 8);
            MemorySegment reply = arena.allocate(Ipv6TcpWriter.MAX_LENGTH, 8);
            if (rig.complete(packet, reply, 0, 1, 1, remote, local, 12345, 2000)) {
                Native.close(handoff.handoff(rig.verdict, packet));
            }
        } catch (LinuxException | RuntimeException e) {
            // Best effort, as above.
        }
    }

    /** A handshake over IPv6 with its own key ring, driven by synthetic packets. */
    private static final class Rig6 {
        final Handshake handshake;
        final Ipv6TcpWriter writer = new Ipv6TcpWriter();
        final Ipv6TcpParser parser = new Ipv6TcpParser();
        final AckVerdict verdict = new AckVerdict();

        Rig6(int ourMss, int ourMss6, int ourWscale) {
            handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)),
                    ourMss, ourMss6, ourWscale, true);
        }

        /** SYN from hi:clientLo to hi:localLo, our SYN/ACK, the final ACK (left in {@code packet}). */
        boolean complete(MemorySegment packet, MemorySegment reply, long hi, long clientLo, long localLo,
                         int clientPort, int localPort, int clientIsn, int tsVal) {
            int len = writer.write(packet, 0, hi, clientLo, hi, localLo, clientPort, localPort, clientIsn, 0,
                    TcpFlyweight.SYN, 64800, 1440, 7, true, true, tsVal, 0);
            if (parser.parse(packet, 0, len, true) != Reject.NONE) {
                return false;
            }
            parser.parse(reply, 0, handshake.synAck(parser, reply, 0, tsVal), true);
            int isn = parser.seq();
            len = writer.write(packet, 0, hi, clientLo, hi, localLo, clientPort, localPort, clientIsn + 1, isn + 1,
                    TcpFlyweight.ACK, 502, -1, -1, false, true, tsVal + 1, tsVal & ~1);
            parser.parse(packet, 0, len, true);
            return handshake.verifyAck(parser, verdict);
        }
    }

    /** A handshake with its own key ring and reusable flyweights, driven by synthetic packets. */
    private static final class Rig {
        final Handshake handshake;
        final Ipv4TcpWriter writer = new Ipv4TcpWriter();
        final Ipv4TcpParser parser = new Ipv4TcpParser();
        final AckVerdict verdict = new AckVerdict();

        Rig(int ourMss, int ourWscale) {
            handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)),
                    ourMss, ourWscale, true);
        }

        /** SYN, our SYN/ACK, the client's final ACK (left in {@code packet}); true if it verified. */
        boolean complete(MemorySegment packet, MemorySegment reply, int client, int local, int clientPort,
                         int localPort, int clientIsn, int tsVal) {
            int len = writer.write(packet, 0, client, local, clientPort, localPort, clientIsn, 0,
                    TcpFlyweight.SYN, 64240, 1460, 7, true, true, tsVal, 0);
            if (parser.parse(packet, 0, len, true) != Reject.NONE) {
                return false;
            }
            parser.parse(reply, 0, handshake.synAck(parser, reply, 0, tsVal), true);
            int isn = parser.seq();
            len = writer.write(packet, 0, client, local, clientPort, localPort, clientIsn + 1, isn + 1,
                    TcpFlyweight.ACK, 502, -1, -1, false, true, tsVal + 1, tsVal & ~1);
            parser.parse(packet, 0, len, true);
            return handshake.verifyAck(parser, verdict);
        }
    }

    /** One Netty connect, write and close on {@code loop} to a throwaway loopback listener. */
    static void relay(EventLoop loop) {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            listener.setSoTimeout(2000);
            ChannelFuture f = new Bootstrap().group(loop).channel(EpollSocketChannel.class)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(new InetSocketAddress(listener.getInetAddress(), listener.getLocalPort()));
            try (Socket accepted = listener.accept()) {
                if (f.awaitUninterruptibly(2000) && f.isSuccess()) {
                    f.channel().writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1})).awaitUninterruptibly(2000);
                    accepted.getInputStream().read();
                }
            } finally {
                f.channel().close().awaitUninterruptibly(2000);
            }
        } catch (IOException | RuntimeException e) {
            // Loopback may be down in a bare namespace: the first connection is then just slower.
        }
    }
}
