package io.synproxy.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.synproxy.handoff.RepairHandoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.metrics.BackendTimings;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.TcpSegmentWriter;
import io.synproxy.relay.Relay;
import io.synproxy.relay.RelaySettings;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Real connections through the handoff and the relay before the port opens, so that the first real clients do not
 * run in the interpreter. Measured before it existed: a connection cost 819 to 837 us of proxy CPU in the first 2 s
 * after start against about 220 once warm, and curl's first byte p50 was 1.6 to 1.9 ms for the first 600
 * connections against 0.7 after 15,000.
 *
 * <p>Each warm-up connection is a pair of sockets on loopback built by the loop's kind of {@link RepairHandoff} from
 * a verified synthetic handshake and its {@linkplain AckVerdict#reversed reverse}: one end is adopted by a
 * {@link Relay} of the user's settings whose backend is a listener of this class on loopback, the other end is the
 * client, which sends a request and reads the answer. Half the connections end as a server that closes after its
 * response does, half as a client that closes once it has read it, so both orders of FINs are compiled. Nothing
 * reaches the user's backend or any interface; the connections' TIME_WAIT entries stay on loopback's ephemeral
 * ports for a minute. Best effort: a failure only ends the warm-up early.
 */
final class ConnectionWarmup {
    /** Connections run; {@code -Dsynproxy.connectionWarmup=0} turns it off. */
    static final int CONNECTIONS = Math.max(0, Integer.getInteger("synproxy.connectionWarmup", 4000));
    /** The warm-up ends after this long whatever the count: a slow host starts anyway. */
    static final long BUDGET_NANOS = TimeUnit.MILLISECONDS.toNanos(2000);
    private static final int IN_FLIGHT = 4;
    /**
     * A connection that takes this long means something is wrong (the first, cold, takes about 300 ms): the warm-up
     * ends there and closes what is still open.
     */
    private static final long STUCK_MILLIS = 1000;
    /** The request's last header names the order of the FINs: 'c' the server closes first, 'k' the client. */
    private static final byte[] SERVER_CLOSES = request('c');
    private static final byte[] CLIENT_CLOSES = request('k');
    private static final byte[] RESPONSE = response();

    private ConnectionWarmup() {
    }

    /**
     * Runs up to {@code count} connections on {@code loop}, four at a time, for at most {@code budgetNanos}.
     *
     * @param settings the user's relay settings (mode, PROXY header, keepalive): only the backend is replaced
     * @param handoff a handoff for this thread alone (the loops' own are busy on their threads)
     * @param loopback 127.0.0.1 or ::1, of a family the proxy serves
     * @return how many connections delivered their whole response
     */
    static int run(EventLoop loop, RelaySettings settings, RepairHandoff handoff, Warmup.Rig rig,
                   InetAddress loopback, int count, long budgetNanos) {
        if (count == 0 || !up(loopback)) {
            return 0;
        }
        // The ends this class opens that are still open, closed at the end whatever state they are in.
        Set<Channel> ours = ConcurrentHashMap.newKeySet();
        Channel listener;
        try {
            listener = new ServerBootstrap().group(loop).channel(EpollServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                        @Override
                        protected void initChannel(EpollSocketChannel ch) {
                            track(ours, ch);
                            ch.pipeline().addLast(new Server());
                        }
                    }).bind(loopback, 0).syncUninterruptibly().channel();
        } catch (RuntimeException e) {
            // Loopback may be down in a bare namespace.
            return 0;
        }
        Relay relay = new Relay(loop, settings.withBackend((InetSocketAddress) listener.localAddress()),
                new Counters(), BackendTimings.NONE);
        AtomicInteger whole = new AtomicInteger();
        Semaphore slots = new Semaphore(IN_FLIGHT);
        long deadline = System.nanoTime() + budgetNanos;
        long hi = Warmup.high(loopback);
        long lo = Warmup.low(loopback);
        // Every connection is a pair of ends on one server port that this warm-up holds alone (bound, not listening),
        // so any client port makes a 4-tuple no other socket has; the handoff binds in repair mode, which may share
        // a port. Asking the kernel for two free ports per connection (bind to port 0) slowed as TIME_WAIT entries
        // filled the ephemeral range: a restart within a minute of another (whose warm-up left thousands) completed
        // about 300 warm-up connections in its budget instead of about 2,500.
        try (Arena arena = Arena.ofConfined(); Socket hold = new Socket()) {
            hold.bind(new InetSocketAddress(loopback, 0));
            int serverPort = hold.getLocalPort();
            int[] range = ephemeralRange();
            int span = range[1] - range[0] + 1;
            int[] clientPorts = clientPorts(range[0], range[1], serverPort,
                    ThreadLocalRandom.current().nextInt(span), Math.min(count, span - 1));
            MemorySegment packet = arena.allocate(TcpSegmentWriter.MAX_LENGTH, 8);
            MemorySegment reply = arena.allocate(TcpSegmentWriter.MAX_LENGTH, 8);
            for (int i = 0; i < clientPorts.length && System.nanoTime() < deadline; i++) {
                int clientPort = clientPorts[i];
                if (!slots.tryAcquire(STUCK_MILLIS, TimeUnit.MILLISECONDS)) {
                    break;
                }
                if (!rig.complete(packet, reply, hi, lo, hi, lo, clientPort, serverPort, i * 7919, i << 1)) {
                    break;
                }
                // Copies: the rig's verdict is overwritten by the next handshake while the loop still reads this one.
                AckVerdict client = rig.verdict.reversed();
                AckVerdict server = client.reversed();
                int serverFd = handoff.handoff(server, packet);
                int clientFd;
                try {
                    clientFd = handoff.handoff(client, packet);
                } catch (LinuxException e) {
                    Native.close(serverFd);
                    throw e;
                }
                byte[] request = (i & 1) == 0 ? SERVER_CLOSES : CLIENT_CLOSES;
                loop.execute(() -> {
                    relay.adopt(serverFd, server, () -> { });
                    EpollSocketChannel ch;
                    try {
                        ch = new EpollSocketChannel(clientFd);
                    } catch (RuntimeException e) {
                        // Never owned by a channel; the slot stays taken, so the warm-up ends at the next wait.
                        Native.close(clientFd);
                        return;
                    }
                    Client c = new Client(request, request == CLIENT_CLOSES);
                    ch.pipeline().addLast(c);
                    track(ours, ch);
                    ch.closeFuture().addListener(f -> {
                        if (c.received >= RESPONSE.length) {
                            whole.incrementAndGet();
                        }
                        slots.release();
                    });
                    loop.register(ch);
                });
            }
            slots.tryAcquire(IN_FLIGHT, STUCK_MILLIS, TimeUnit.MILLISECONDS);
        } catch (IOException | RuntimeException e) {
            // Best effort: the warm-up ends here.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            listener.close().awaitUninterruptibly(STUCK_MILLIS);
            loop.submit(() -> ours.forEach(Channel::close)).awaitUninterruptibly(STUCK_MILLIS);
            relay.closeAll().awaitUninterruptibly(STUCK_MILLIS);
            loop.submit(relay::close).awaitUninterruptibly(STUCK_MILLIS);
        }
        return whole.get();
    }

    /**
     * {@code count} distinct ports of {@code low..high} in turn from {@code low + start}, wrapping, without
     * {@code exclude} (the held server port): one per connection, so the warm-up runs {@code count} whole.
     */
    static int[] clientPorts(int low, int high, int exclude, int start, int count) {
        int span = high - low + 1;
        int[] ports = new int[count];
        for (int i = 0, next = start; i < count; next++) {
            int port = low + next % span;
            if (port != exclude) {
                ports[i++] = port;
            }
        }
        return ports;
    }

    /**
     * The ephemeral port range ({@code net.ipv4.ip_local_port_range}, which IPv6 shares): the warm-up's client ports
     * are taken from it, where no server listens by convention; the kernel's default where it cannot be read.
     */
    static int[] ephemeralRange() {
        // Not Files.readString: on this sysctl file (size 0) it returned "3" here; a buffered reader reads it whole.
        try {
            String[] bounds = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).getFirst().trim()
                    .split("\\s+");
            int low = Integer.parseInt(bounds[0]);
            int high = Integer.parseInt(bounds[1]);
            if (low >= 1 && low < high && high <= 65535) {
                return new int[] {low, high};
            }
        } catch (IOException | RuntimeException e) {
            // The kernel's default below.
        }
        return new int[] {32768, 60999};
    }

    /** Kept in {@code open} while it is: thousands pass through, and a closed channel must not stay reachable. */
    private static void track(Set<Channel> open, Channel ch) {
        open.add(ch);
        ch.closeFuture().addListener(f -> open.remove(ch));
    }

    /** False when the loopback interface is down (a bare namespace): nothing there would ever connect. */
    private static boolean up(InetAddress loopback) {
        try {
            NetworkInterface lo = NetworkInterface.getByInetAddress(loopback);
            return lo != null && lo.isUp();
        } catch (SocketException e) {
            return false;
        }
    }

    private static byte[] request(char close) {
        return ("GET / HTTP/1.1\r\nHost: synproxy-warm-up\r\nX: " + close + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] response() {
        byte[] body = new byte[600];
        Arrays.fill(body, (byte) 'a');
        byte[] head = ("HTTP/1.1 200 OK\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        byte[] all = Arrays.copyOf(head, head.length + body.length);
        System.arraycopy(body, 0, all, head.length, body.length);
        return all;
    }

    /** Sends its request once adopted; closes after the whole response when it is the side that closes first. */
    private static final class Client extends ChannelInboundHandlerAdapter {
        int received;
        private final byte[] request;
        private final boolean closesFirst;

        Client(byte[] request, boolean closesFirst) {
            this.request = request;
            this.closesFirst = closesFirst;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.writeAndFlush(Unpooled.wrappedBuffer(request));
            ctx.fireChannelActive();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ByteBuf b) {
                received += b.readableBytes();
            }
            ReferenceCountUtil.release(msg);
            if (closesFirst && received >= RESPONSE.length) {
                ctx.close();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /**
     * The warm-up's backend: answers once the request's blank line has come (after a PROXY header, if the settings
     * send one), then closes or waits for the client's FIN as the request asks.
     */
    private static final class Server extends ChannelInboundHandlerAdapter {
        /** The last five bytes read: the order byte and the blank line. */
        private final byte[] tail = new byte[5];
        private boolean answered;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ByteBuf b && !answered) {
                int n = b.readableBytes();
                for (int i = Math.max(0, n - tail.length); i < n; i++) {
                    System.arraycopy(tail, 1, tail, 0, tail.length - 1);
                    tail[tail.length - 1] = b.getByte(b.readerIndex() + i);
                }
                if (tail[1] == '\r' && tail[2] == '\n' && tail[3] == '\r' && tail[4] == '\n') {
                    answered = true;
                    var written = ctx.writeAndFlush(Unpooled.wrappedBuffer(RESPONSE));
                    if (tail[0] == 'c') {
                        written.addListener(f -> ctx.close());
                    }
                }
            }
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
