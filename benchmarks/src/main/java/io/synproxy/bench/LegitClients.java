package io.synproxy.bench;

import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Legitimate HTTP clients at a fixed arrival rate (open model): connection {@code i} is due at
 * {@code start + i / rate} whatever happened to the ones before it. Each opens a new TCP connection
 * (the host's real Linux stack), sends {@code GET / HTTP/1.1} with {@code Connection: close} and reads
 * the response to the end. Latencies are measured from the <em>intended</em> start, so a client that
 * could not even be started on time is charged for it (coordinated-omission correction).
 *
 * <p>A connection that fails, is refused, reset, gets anything but a 200, or is not finished within the
 * timeout is a failure; it still counts as a sample: it is recorded in both histograms at the timeout
 * value (a failed request is at least that slow for its user), so percentiles never flatter.
 *
 * <p>One selector thread drives every connection; it must run inside the client host's namespace.
 */
final class LegitClients {
    static final long HIGHEST_MICROS = TimeUnit.SECONDS.toMicros(60);
    private static final byte[] REQUEST_TEMPLATE =
            "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: synproxy-bench\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII);

    /** What one run measured. */
    record Result(long attempted, long succeeded, long failedConnect, long failedResponse, long timedOut,
                  Histogram connect, Histogram firstByte) {
        double successPercent() {
            return attempted == 0 ? 0 : 100.0 * succeeded / attempted;
        }
    }

    private final InetSocketAddress target;
    private final double ratePerSecond;
    private final long timeoutNanos;
    private final byte[] request;

    LegitClients(InetSocketAddress target, double ratePerSecond, long timeoutMillis) {
        this.target = target;
        this.ratePerSecond = ratePerSecond;
        this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.request = new String(REQUEST_TEMPLATE, StandardCharsets.US_ASCII)
                .formatted(target.getHostString()).getBytes(StandardCharsets.US_ASCII);
    }

    private final class Conn {
        final long intended;
        final SocketChannel ch;
        final ByteBuffer out = ByteBuffer.wrap(request);
        final ByteBuffer in = ByteBuffer.allocate(4096);
        final StringBuilder head = new StringBuilder();
        long connectedAt = -1;
        long firstByteAt = -1;
        boolean done;

        Conn(long intended, SocketChannel ch) {
            this.intended = intended;
            this.ch = ch;
        }
    }

    /** Runs for {@code durationMillis} of arrivals, then waits for the last ones (at most the timeout). */
    Result run(long durationMillis) throws IOException {
        Histogram connect = new Histogram(HIGHEST_MICROS, 3);
        Histogram firstByte = new Histogram(HIGHEST_MICROS, 3);
        long[] outcome = new long[5]; // attempted, ok, failedConnect, failedResponse, timedOut
        long timeoutMicros = TimeUnit.NANOSECONDS.toMicros(timeoutNanos);
        List<Conn> open = new ArrayList<>();
        try (Selector selector = Selector.open()) {
            long start = System.nanoTime();
            long total = (long) Math.floor(durationMillis / 1000.0 * ratePerSecond);
            long launched = 0;
            while (launched < total || !open.isEmpty()) {
                long now = System.nanoTime();
                // Launch every connection that is due (several at once if we fell behind).
                while (launched < total) {
                    long due = start + (long) (launched * 1e9 / ratePerSecond);
                    if (due > now) {
                        break;
                    }
                    launched++;
                    outcome[0]++;
                    SocketChannel ch = null;
                    try {
                        ch = SocketChannel.open();
                        ch.configureBlocking(false);
                        ch.setOption(StandardSocketOptions.SO_LINGER, 0); // no TIME_WAIT pile-up on the client
                        Conn c = new Conn(due, ch);
                        if (ch.connect(target)) {
                            c.connectedAt = System.nanoTime();
                            ch.register(selector, SelectionKey.OP_WRITE, c);
                        } else {
                            ch.register(selector, SelectionKey.OP_CONNECT, c);
                        }
                        open.add(c);
                    } catch (IOException e) {
                        outcome[2]++;
                        recordFailure(connect, firstByte, timeoutMicros);
                        if (ch != null) {
                            ch.close();
                        }
                    }
                }
                long nextDue = launched < total ? start + (long) (launched * 1e9 / ratePerSecond) : now + 10_000_000L;
                long waitMillis = Math.max(0, (nextDue - System.nanoTime()) / 1_000_000L);
                if (waitMillis == 0) {
                    selector.selectNow();
                } else {
                    selector.select(Math.min(waitMillis, 10));
                }
                Iterator<SelectionKey> it = selector.selectedKeys().iterator();
                while (it.hasNext()) {
                    SelectionKey key = it.next();
                    it.remove();
                    Conn c = (Conn) key.attachment();
                    try {
                        step(key, c, connect, firstByte, outcome, timeoutMicros);
                    } catch (IOException e) {
                        fail(c, connect, firstByte, outcome, timeoutMicros);
                    }
                }
                // Time-outs and finished connections.
                long t = System.nanoTime();
                for (Iterator<Conn> ci = open.iterator(); ci.hasNext(); ) {
                    Conn c = ci.next();
                    if (c.done) {
                        ci.remove();
                    } else if (t - c.intended > timeoutNanos) {
                        outcome[4]++;
                        recordFailure(connect, firstByte, timeoutMicros);
                        c.done = true;
                        c.ch.close();
                        ci.remove();
                    }
                }
            }
        } finally {
            for (Conn c : open) {
                c.ch.close();
            }
        }
        return new Result(outcome[0], outcome[1], outcome[2], outcome[3], outcome[4], connect, firstByte);
    }

    private void step(SelectionKey key, Conn c, Histogram connect, Histogram firstByte, long[] outcome,
                      long timeoutMicros) throws IOException {
        if (c.done) {
            return;
        }
        if (key.isConnectable()) {
            c.ch.finishConnect(); // throws on refusal or reset
            c.connectedAt = System.nanoTime();
            key.interestOps(SelectionKey.OP_WRITE);
        }
        if (key.isValid() && key.isWritable()) {
            c.ch.write(c.out);
            if (!c.out.hasRemaining()) {
                key.interestOps(SelectionKey.OP_READ);
            }
        }
        if (key.isValid() && key.isReadable()) {
            int n;
            while ((n = c.ch.read(c.in)) > 0) {
                if (c.firstByteAt < 0) {
                    c.firstByteAt = System.nanoTime();
                }
                if (c.head.length() < 16) {
                    c.in.flip();
                    while (c.in.hasRemaining() && c.head.length() < 16) {
                        c.head.append((char) c.in.get());
                    }
                }
                c.in.clear();
            }
            if (n < 0) {
                c.done = true;
                c.ch.close();
                if (c.firstByteAt > 0 && c.head.toString().startsWith("HTTP/1.1 200")) {
                    outcome[1]++;
                    connect.recordValue(Math.min(micros(c.connectedAt - c.intended), HIGHEST_MICROS));
                    firstByte.recordValue(Math.min(micros(c.firstByteAt - c.intended), HIGHEST_MICROS));
                } else {
                    outcome[3]++;
                    recordFailure(connect, firstByte, timeoutMicros);
                }
            }
        }
    }

    private static void fail(Conn c, Histogram connect, Histogram firstByte, long[] outcome, long timeoutMicros)
            throws IOException {
        if (c.done) {
            return;
        }
        c.done = true;
        c.ch.close();
        if (c.connectedAt < 0) {
            outcome[2]++;
        } else {
            outcome[3]++;
        }
        recordFailure(connect, firstByte, timeoutMicros);
    }

    private static void recordFailure(Histogram connect, Histogram firstByte, long timeoutMicros) {
        connect.recordValue(timeoutMicros);
        firstByte.recordValue(timeoutMicros);
    }

    private static long micros(long nanos) {
        return Math.max(0, nanos / 1000);
    }
}
