package io.synproxy.relay;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.synproxy.metrics.Counter;

import java.util.concurrent.RejectedExecutionException;

/**
 * One direction of a relayed connection: bytes read from {@code in} are written to {@code out}. Whichever pump
 * moves them (copy or splice) marks the input done when the FIN has been passed on; the relay closes both legs
 * when both directions are done.
 */
final class Direction {
    final Channel in;
    final Channel out;
    /** The byte counter of this direction. */
    final Counter bytes;
    /** The counter of a reset on {@code in}. */
    final Counter reset;
    final IdleWatch idle;
    Direction peer;
    boolean inputDone;
    /** Moved by a splice pump, which reads {@code in} itself: Netty does not. */
    boolean spliced;
    /**
     * Runs before the first bytes (or FIN) this direction writes, unless the other direction reads first (then it is
     * dropped): the timestamp echo, on the server-to-client direction only (see SegmentGate#handOff).
     */
    Runnable beforeFirstWrite;

    Direction(Channel in, Channel out, Counter bytes, Counter reset, IdleWatch idle) {
        this.in = in;
        this.out = out;
        this.bytes = bytes;
        this.reset = reset;
        this.idle = idle;
    }

    /** Called by a pump before it writes bytes it read from {@code in}, or passes on its FIN. */
    void beforeWrite() {
        Runnable first = beforeFirstWrite;
        if (first != null) {
            beforeFirstWrite = null;
            first.run();
        }
        // The other side read first: whatever it was waiting for is needless now.
        peer.beforeFirstWrite = null;
    }

    /** Bytes moved in this direction. */
    void touch() {
        if (idle != null) {
            idle.touch();
        }
    }

    /**
     * This direction's FIN has been passed on: when the other one's has too, the relay is over. Both legs are closed
     * in a task, after the epoll batch being handled: it may still hold an event for either leg's descriptor, which
     * a socket opened later in the batch could take over once the number is freed (see SpliceSocket#handle).
     *
     * <p>Until then the other direction's FIN is the relay's end. When Netty reads it (a copy pump), it closes that
     * socket ({@code out}) at once instead of shutting its input down: half-closure off. Shutting down the input of a
     * socket whose own FIN went out already fails (the kernel has moved the connection to TIME_WAIT: ENOTCONN),
     * which Netty turns into an exception with its stack trace, once per relayed connection, and three more
     * syscalls. The other leg is then closed by the pump's {@link Closing#closeOnFlush}, after what is queued for
     * it, in a task. Closing {@code out} in the batch is safe: its event is the one being handled, and epoll
     * reports a descriptor once per batch.
     */
    void finished() {
        inputDone = true;
        if (peer.inputDone) {
            try {
                in.eventLoop().execute(() -> {
                    in.close();
                    out.close();
                });
            } catch (RejectedExecutionException e) {
                // The loop is shutting down: no batch follows.
                in.close();
                out.close();
            }
        } else if (!peer.spliced) {
            out.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, false);
        }
    }
}
