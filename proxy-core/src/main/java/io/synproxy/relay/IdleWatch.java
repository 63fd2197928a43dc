package io.synproxy.relay;

import io.netty.channel.Channel;
import io.netty.util.concurrent.ScheduledFuture;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;

import java.util.concurrent.TimeUnit;

/**
 * Closes a relay when neither direction has moved a byte for the idle timeout. The pumps touch it on every read,
 * whether Netty read the bytes or splice(2) moved them (Netty's IdleStateHandler would not see spliced bytes);
 * one timer per relay, re-armed for the remainder when it fires early.
 */
final class IdleWatch implements Runnable {
    private final Channel client;
    private final long timeoutNanos;
    private final Counters counters;
    private long lastNanos;
    private ScheduledFuture<?> timer;

    private IdleWatch(Channel client, long timeoutNanos, Counters counters) {
        this.client = client;
        this.timeoutNanos = timeoutNanos;
        this.counters = counters;
        this.lastNanos = System.nanoTime();
    }

    /** Starts watching {@code client} (on its loop); null when the timeout is off. */
    static IdleWatch start(Channel client, long timeoutMillis, Counters counters) {
        if (timeoutMillis <= 0) {
            return null;
        }
        IdleWatch w = new IdleWatch(client, TimeUnit.MILLISECONDS.toNanos(timeoutMillis), counters);
        w.timer = client.eventLoop().schedule(w, w.timeoutNanos, TimeUnit.NANOSECONDS);
        client.closeFuture().addListener(f -> w.timer.cancel(false));
        return w;
    }

    /** Bytes moved: the relay is not idle. */
    void touch() {
        lastNanos = System.nanoTime();
    }

    @Override
    public void run() {
        if (!client.isOpen()) {
            return;
        }
        long idle = System.nanoTime() - lastNanos;
        if (idle >= timeoutNanos) {
            counters.increment(Counter.IDLE_CLOSED);
            client.close();
        } else {
            timer = client.eventLoop().schedule(this, timeoutNanos - idle, TimeUnit.NANOSECONDS);
        }
    }
}
