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
import io.synproxy.handoff.RepairHandoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;

/**
 * Runs the cold paths once before the port is opened, so that the first real client does not
 * pay for class loading and JIT (measured: ~180 ms on the first connection without it, ~5 ms after).
 * Best effort: a failure here only means a slower first connection.
 */
final class Warmup {
    private static final int HANDSHAKE_ROUNDS = 20_000;

    private Warmup() {
    }

    /**
     * SYN parse, SYN/ACK build, ACK verification on synthetic packets in heap memory, for each family served: no
     * socket.
     */
    static void handshake(int ourMss, int ourMss6, int ourWscale, boolean ipv4, boolean ipv6) {
        Rig rig = new Rig(ourMss, ourMss6, ourWscale);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(TcpSegmentWriter.MAX_LENGTH, 8);
            MemorySegment reply = arena.allocate(TcpSegmentWriter.MAX_LENGTH, 8);
            for (int i = 0; i < HANDSHAKE_ROUNDS; i++) {
                if (ipv4) {
                    rig.complete(packet, reply, 0, TcpSegment.mapped(0x0A000002 + i), 0, TcpSegment.mapped(0x0A000001),
                            1024 + (i & 0x7fff), 8080, i * 7919, i << 1);
                }
                if (ipv6) {
                    rig.complete(packet, reply, 0xfd00_0000_0000_0000L, 2 + i, 0xfd00_0000_0000_0000L, 1,
                            1024 + (i & 0x7fff), 8080, i * 7919, i << 1);
                }
            }
        }
    }

    /**
     * One real TCP_REPAIR handoff between two ports nobody uses on {@code loopback} (127.0.0.1 or ::1), closed at
     * once: links every FFM call of the family's handoff before a client needs it.
     */
    static void repair(RepairHandoff handoff, int ourMss, int ourMss6, int ourWscale, InetAddress loopback) {
        int local;
        int remote;
        try {
            int[] ports = twoFreePorts(loopback);
            local = ports[0];
            remote = ports[1];
        } catch (IOException e) {
            return;
        }
        long hi = high(loopback);
        long lo = low(loopback);
        Rig rig = new Rig(ourMss, ourMss6, ourWscale);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packet = arena.allocate(TcpSegmentWriter.MAX_LENGTH, 8);
            MemorySegment reply = arena.allocate(TcpSegmentWriter.MAX_LENGTH, 8);
            if (rig.complete(packet, reply, hi, lo, hi, lo, remote, local, 12345, 2000)) {
                Native.close(handoff.handoff(rig.verdict, packet));
            }
        } catch (LinuxException | RuntimeException e) {
            // Best effort, as above.
        }
    }

    /** Address bits 127..64, as the handshake takes them (0 for IPv4). */
    static long high(InetAddress a) {
        byte[] b = a.getAddress();
        return b.length == 4 ? 0 : ByteBuffer.wrap(b).getLong();
    }

    /** Address bits 63..0, as the handshake takes them (IPv4 in its mapped form, {@link TcpSegment#mapped}). */
    static long low(InetAddress a) {
        byte[] b = a.getAddress();
        return b.length == 4 ? TcpSegment.mapped(ByteBuffer.wrap(b).getInt()) : ByteBuffer.wrap(b, 8, 8).getLong();
    }

    /** Two ports of {@code loopback} that no socket is bound to now (the kernel's ephemeral range). */
    static int[] twoFreePorts(InetAddress loopback) throws IOException {
        try (ServerSocket a = new ServerSocket(0, 1, loopback);
             ServerSocket b = new ServerSocket(0, 1, loopback)) {
            return new int[] {a.getLocalPort(), b.getLocalPort()};
        }
    }

    /** A handshake of either family with its own key ring and reusable flyweights, driven by synthetic packets. */
    static final class Rig {
        final Handshake handshake;
        final TcpSegmentWriter writer = new TcpSegmentWriter();
        final TcpSegment parser = new TcpSegment();
        final AckVerdict verdict = new AckVerdict();

        Rig(int ourMss, int ourMss6, int ourWscale) {
            handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)),
                    ourMss, ourMss6, ourWscale, true);
        }

        /** SYN, our SYN/ACK, the client's final ACK (left in {@code packet}); true if it verified. */
        boolean complete(MemorySegment packet, MemorySegment reply, long clientHi, long clientLo, long localHi,
                         long localLo, int clientPort, int localPort, int clientIsn, int tsVal) {
            int len = writer.from(clientHi, clientLo, clientPort).to(localHi, localLo, localPort).seq(clientIsn)
                    .flags(TcpFlyweight.SYN).window(64240).mss(1440).wscale(7).sackPermitted(true)
                    .timestamps(tsVal, 0).write(packet, 0);
            if (parser.parse(packet, 0, len, true) != Reject.NONE) {
                return false;
            }
            parser.parse(reply, 0, handshake.synAck(parser, reply, 0, tsVal), true);
            int isn = parser.seq();
            len = writer.from(clientHi, clientLo, clientPort).to(localHi, localLo, localPort).seq(clientIsn + 1)
                    .ack(isn + 1).flags(TcpFlyweight.ACK).window(502).timestamps(tsVal + 1, tsVal & ~1)
                    .write(packet, 0);
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
                // Best effort: a write that never comes must not hold up the start.
                accepted.setSoTimeout(2000);
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
