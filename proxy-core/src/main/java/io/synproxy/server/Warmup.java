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
        Handshake handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)),
                ourMss, ourWscale, true);
        Ipv4TcpWriter writer = new Ipv4TcpWriter();
        Ipv4TcpParser parser = new Ipv4TcpParser();
        AckVerdict verdict = new AckVerdict();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment syn = arena.allocate(64, 8);
            MemorySegment reply = arena.allocate(64, 8);
            for (int i = 0; i < HANDSHAKE_ROUNDS; i++) {
                int len = writer.write(syn, 0, 0x0A000002 + i, 0x0A000001, 1024 + (i & 0x7fff), 8080, i * 7919, 0,
                        TcpFlyweight.SYN, 64240, 1460, 7, true, true, i, 0);
                if (parser.parse(syn, 0, len, true) != Reject.NONE) {
                    return;
                }
                int replyLen = handshake.synAck(parser, reply, 0, i << 1);
                parser.parse(reply, 0, replyLen, true);
                int isn = parser.seq();
                len = writer.write(syn, 0, 0x0A000002 + i, 0x0A000001, 1024 + (i & 0x7fff), 8080, i * 7919 + 1,
                        isn + 1, TcpFlyweight.ACK, 502, -1, -1, false, true, i, i << 1);
                parser.parse(syn, 0, len, true);
                handshake.verifyAck(parser, verdict);
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
        Handshake handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)),
                ourMss, ourWscale, true);
        Ipv4TcpWriter writer = new Ipv4TcpWriter();
        Ipv4TcpParser parser = new Ipv4TcpParser();
        AckVerdict verdict = new AckVerdict();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(64, 8);
            MemorySegment reply = arena.allocate(64, 8);
            int len = writer.write(packet, 0, loopback, loopback, remote, local, 12345, 0,
                    TcpFlyweight.SYN, 64240, 1460, 7, true, true, 1000, 0);
            parser.parse(packet, 0, len, true);
            parser.parse(reply, 0, handshake.synAck(parser, reply, 0, 2000), true);
            int isn = parser.seq();
            len = writer.write(packet, 0, loopback, loopback, remote, local, 12346, isn + 1,
                    TcpFlyweight.ACK, 502, -1, -1, false, true, 1001, 2000);
            parser.parse(packet, 0, len, true);
            if (handshake.verifyAck(parser, verdict)) {
                Native.close(handoff.handoff(verdict, packet));
            }
        } catch (LinuxException | RuntimeException e) {
            // Best effort, as above.
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
