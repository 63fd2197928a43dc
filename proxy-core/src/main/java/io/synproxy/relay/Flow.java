package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.metrics.Counter;

import java.lang.foreign.MemorySegment;

import static io.synproxy.linux.Constants.EAGAIN;
import static io.synproxy.linux.Constants.ECONNRESET;
import static io.synproxy.linux.Constants.EHOSTUNREACH;
import static io.synproxy.linux.Constants.EINTR;
import static io.synproxy.linux.Constants.ENOTCONN;
import static io.synproxy.linux.Constants.EPIPE;
import static io.synproxy.linux.Constants.ETIMEDOUT;
import static io.synproxy.linux.Constants.MSG_MORE;
import static io.synproxy.linux.Constants.MSG_NOSIGNAL;
import static io.synproxy.linux.Constants.SHUT_WR;
import static io.synproxy.linux.Constants.SPLICE_F_MORE;
import static io.synproxy.linux.Constants.SPLICE_F_MOVE;
import static io.synproxy.linux.Constants.SPLICE_F_NONBLOCK;

/**
 * One direction of a relayed connection: what is read from {@code in} is written to {@code out}, copied through the
 * loop's buffer ({@link Relay#buffer}) or, once the direction streams (or in forced splice mode), moved socket to
 * pipe to socket with splice(2), the pages never copied to user space.
 *
 * <p>Back-pressure: what the output does not take at once is kept ({@link #pending}, at most one read's worth) or
 * stays in the pipe (at most its capacity), and the input is not read again until the output has taken all of it.
 * The FIN is passed on (shutdown(2) SHUT_WR) once everything read before it has been written; the last data goes with
 * MSG_MORE (or SPLICE_F_MORE) when the FIN is known to follow, so that data and FIN leave in one segment, as they
 * arrived. A failed read or write ends the connection ({@link RelayConnection#reset}).
 */
final class Flow {
    /** What may be kept before the backend is connected; reading pauses past it. */
    static final int EARLY_BYTES = 64 << 10;
    /** Consecutive reads that filled the loop's buffer before a direction switches to splice. */
    static final int FULL_READS_TO_SPLICE = 8;
    private static final int SEND = MSG_NOSIGNAL;
    private static final int SPLICE = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

    final RelayConnection conn;
    final Leg in;
    final Leg out;
    /** The byte counter of this direction, and the reset counter of its input. */
    final Counter bytes;
    final Counter reset;
    Flow peer;
    /**
     * Runs before the first bytes (or FIN) this direction writes, unless the other direction reads first (then it is
     * dropped): the timestamp echo, on the server-to-client direction only (see SegmentGate#handOff).
     */
    Runnable beforeFirstWrite;
    /**
     * Epoll has reported EPOLLRDHUP for the input: its FIN is there, after whatever data is still unread. Kept, because
     * the edge may come while the input is not being read (the output full): the read that later finds the input
     * short must still look once more for the FIN, or, edge-triggered, nothing would report it again.
     */
    boolean finArrived;
    /** The input's FIN has been read, and passed on. */
    boolean inEof;
    boolean finPassed;
    /** The output would not take more: waiting for EPOLLOUT, the input not read meanwhile. */
    private boolean blocked;
    /** Bytes read and not yet written, in order before anything in the pipe; null when none. */
    private ByteBuf pending;
    private PipePool.Pipe pipe;
    private int inPipe;
    private int fullReads;
    private boolean spliceable;

    Flow(RelayConnection conn, Leg in, Leg out, Counter bytes, Counter reset, boolean spliceable) {
        this.conn = conn;
        this.in = in;
        this.out = out;
        this.bytes = bytes;
        this.reset = reset;
        this.spliceable = spliceable;
    }

    /** True when a run of reads that filled the buffer says this direction streams (pure, for tests). */
    static boolean streaming(int fullReads) {
        return fullReads >= FULL_READS_TO_SPLICE;
    }

    boolean wantsRead() {
        if (inEof) {
            return false;
        }
        if (!conn.connected()) {
            return this == conn.up && pendingBytes() < EARLY_BYTES;
        }
        return !blocked;
    }

    boolean wantsWrite() {
        return blocked;
    }

    /** True when this direction moves its bytes with splice(2). */
    boolean spliced() {
        return pipe != null;
    }

    /**
     * Moves what can be moved now: the kept bytes first, then whatever the input has, until the input is empty, the
     * output full, or the FIN passed on. Once epoll has said the input's FIN has arrived ({@link #finArrived}), a short
     * read is followed by one more, which sees it, so that the last data goes out with it.
     */
    void step() {
        if (conn.closed) {
            return;
        }
        if (!conn.connected()) {
            // Only the client is read, and only its socket's interest is this direction's to change: the backend's
            // waits for its connect (EPOLLOUT).
            if (this == conn.up && !inEof) {
                readEarly();
            }
            if (!conn.closed) {
                conn.client.update();
            }
            return;
        }
        if (flushPending()) {
            if (pipe != null) {
                spliceStep();
            } else {
                copyStep();
            }
        }
        if (!conn.closed) {
            in.update();
            out.update();
        }
    }

    /** Before the backend is connected: keeps what the client sends, at most {@link #EARLY_BYTES}. */
    private void readEarly() {
        MemorySegment buf = conn.relay.buffer;
        while (!inEof && pendingBytes() < EARLY_BYTES) {
            long n = Native.recv(in.fd, buf, Math.min(buf.byteSize(), EARLY_BYTES - pendingBytes()), 0);
            if (n > 0) {
                moved(n);
                if (!keep(buf, 0, n)) {
                    return;
                }
            } else if (n == 0) {
                endOfInput();
            } else if (n != -EINTR) {
                if (n != -EAGAIN) {
                    conn.reset(this);
                }
                return;
            }
        }
    }

    private void copyStep() {
        MemorySegment buf = conn.relay.buffer;
        int cap = (int) buf.byteSize();
        while (true) {
            if (inEof) {
                passFin();
                return;
            }
            long n = Native.recv(in.fd, buf, cap, 0);
            if (n == -EINTR) {
                continue;
            }
            if (n == -EAGAIN) {
                return;
            }
            if (n < 0) {
                conn.reset(this);
                return;
            }
            if (n == 0) {
                endOfInput();
                continue;
            }
            int flags = SEND;
            boolean failed = false;
            if (n < cap && finArrived) {
                // The FIN is in: read it now, so that the data goes out with it.
                long m = Native.recv(in.fd, buf.asSlice(n), cap - n, 0);
                if (m == 0) {
                    endOfInput();
                    flags |= MSG_MORE;
                } else if (m > 0) {
                    n += m;
                } else if (m != -EAGAIN && m != -EINTR) {
                    failed = true;
                }
            }
            moved(n);
            long sent;
            do {
                sent = Native.sendNow(out.fd, buf, n, flags);
            } while (sent == -EINTR);
            if (sent != n) {
                if (sent < 0 && sent != -EAGAIN) {
                    conn.reset(peer);
                    return;
                }
                if (!keep(buf, Math.max(sent, 0), n)) {
                    return;
                }
                blocked = true;
            }
            if (failed) {
                conn.reset(this);
                return;
            }
            if (blocked) {
                return;
            }
            fullReads = n == cap ? fullReads + 1 : 0;
            if (spliceable && streaming(fullReads) && !inEof) {
                if (startSplice()) {
                    spliceStep();
                    return;
                }
            }
            if (n < cap && !inEof) {
                // A short read: the input is empty (what comes later raises a new edge).
                return;
            }
        }
    }

    /** Takes a pipe; false (and the direction stays with copying) when none can be had. */
    boolean startSplice() {
        spliceable = false;
        try {
            pipe = conn.relay.pipes.acquire();
        } catch (LinuxException | RuntimeException e) {
            conn.relay.counters.increment(Counter.SPLICE_FALLBACK);
            return false;
        }
        conn.relay.counters.increment(Counter.SPLICED);
        return true;
    }

    private void spliceStep() {
        int max = pipe.capacity();
        while (true) {
            // A pipe runs out of slots before it is full of bytes (a slot per socket buffer fragment): splice then
            // says EAGAIN with the input not empty. Only an EAGAIN into an empty pipe says the input is empty, and
            // edge-triggered epoll raises no new edge for what is already there, so this goes round until one does.
            boolean inputEmpty = false;
            while (!inEof && inPipe < max) {
                long r = Native.splice(in.fd, pipe.writeFd(), max - inPipe, SPLICE);
                if (r > 0) {
                    moved(r);
                    inPipe += (int) r;
                } else if (r == 0) {
                    endOfInput();
                } else if (r == -EAGAIN) {
                    inputEmpty = inPipe == 0;
                    break;
                } else if (r != -EINTR) {
                    if (inPipe == 0 && !broken((int) -r)) {
                        // splice(2) itself failed, not the connection: an empty pipe's direction goes on copying.
                        conn.relay.pipes.release(pipe, true);
                        pipe = null;
                        conn.relay.counters.increment(Counter.SPLICE_FALLBACK);
                        copyStep();
                    } else {
                        conn.reset(this);
                    }
                    return;
                }
            }
            while (inPipe > 0) {
                long s = Native.splice(pipe.readFd(), out.fd, inPipe, inEof ? SPLICE | SPLICE_F_MORE : SPLICE);
                if (s > 0) {
                    inPipe -= (int) s;
                } else if (s == -EAGAIN) {
                    blocked = true;
                    return;
                } else if (s != -EINTR) {
                    conn.reset(peer);
                    return;
                }
            }
            blocked = false;
            if (inEof) {
                passFin();
                return;
            }
            if (inputEmpty) {
                return;
            }
        }
    }

    /** Writes the kept bytes, and the pipe's, to the output; true when nothing is left for it. */
    private boolean flushPending() {
        if (pending != null) {
            int n = pending.readableBytes();
            // MSG_MORE when the FIN follows at once: it goes onto this segment.
            int flags = inEof && pipe == null ? SEND | MSG_MORE : SEND;
            long sent;
            do {
                // A signal before anything was sent: again at once (no EPOLLOUT edge would come for a socket with room).
                sent = Native.sendNow(out.fd, region(pending), n, flags);
            } while (sent == -EINTR);
            if (sent < 0 && sent != -EAGAIN) {
                conn.reset(peer);
                return false;
            }
            if (sent < n) {
                pending.skipBytes((int) Math.max(sent, 0));
                blocked = true;
                return false;
            }
            pending.release();
            pending = null;
        }
        blocked = false;
        return true;
    }

    /** This direction's input has ended: whatever the other side was waiting for is needless now. */
    private void endOfInput() {
        inEof = true;
        if (this == conn.up) {
            peer.beforeFirstWrite = null;
        }
    }

    /** Passes the FIN on; when the other direction's is through too, the connection is over. */
    private void passFin() {
        if (finPassed) {
            return;
        }
        beforeWrite();
        finPassed = true;
        if (pipe != null) {
            conn.relay.pipes.release(pipe, true);
            pipe = null;
        }
        if (peer.finPassed) {
            // The other way is through: close(2), which follows, sends this FIN (nothing is left unread on that
            // socket, or it would send a reset).
            conn.close();
        } else {
            Native.shutdown(out.fd, SHUT_WR);
        }
    }

    /** Bytes read from the input: counted, the idle clock reset, the first-write hook run. */
    private void moved(long n) {
        conn.relay.counters.add(bytes, n);
        conn.lastNanos = System.nanoTime();
        beforeWrite();
    }

    private void beforeWrite() {
        Runnable first = beforeFirstWrite;
        if (first != null) {
            beforeFirstWrite = null;
            first.run();
        }
        // The other side spoke first: whatever it was waiting for is needless now.
        peer.beforeFirstWrite = null;
    }

    /**
     * Keeps bytes {@code from} to {@code to} of {@code buf} for the output, after what is kept already; false (and the
     * connection closed) when no memory is left for them.
     */
    private boolean keep(MemorySegment buf, long from, long to) {
        int n = (int) (to - from);
        try {
            if (pending == null) {
                pending = PooledByteBufAllocator.DEFAULT.directBuffer(Math.max(n, 4096));
            }
            pending.writeBytes(buf.asSlice(from, n).asByteBuffer());
        } catch (OutOfMemoryError e) {
            // Netty's direct memory limit (-XX:MaxDirectMemorySize, by default the heap's size) is reached: this
            // connection cannot be served further, the others go on.
            conn.relay.counters.increment(Counter.RELAY_NO_MEMORY);
            conn.close();
            return false;
        }
        return true;
    }

    /** Puts bytes before anything else this direction writes (the PROXY header). */
    void prepend(ByteBuf header) {
        ByteBuf both = PooledByteBufAllocator.DEFAULT.directBuffer(header.readableBytes() + pendingBytes());
        both.writeBytes(header);
        header.release();
        if (pending != null) {
            both.writeBytes(pending);
            pending.release();
        }
        pending = both;
    }

    /** True when bytes read are waiting for the output (the early reads, the PROXY header, a partial write). */
    boolean hasPending() {
        return pending != null;
    }

    private int pendingBytes() {
        return pending == null ? 0 : pending.readableBytes();
    }

    /** Frees what the direction holds (at close): its kept bytes and its pipe (reused only if empty). */
    void free() {
        if (pending != null) {
            pending.release();
            pending = null;
        }
        if (pipe != null) {
            conn.relay.pipes.release(pipe, inPipe == 0);
            pipe = null;
        }
    }

    /** An errno that says the connection is broken (a reset, a timeout, no route), not splice(2). */
    static boolean broken(int errno) {
        return errno == EPIPE || errno == ECONNRESET || errno == ETIMEDOUT || errno == EHOSTUNREACH
                || errno == ENOTCONN;
    }

    /** The readable bytes of a direct buffer as one native region. */
    private static MemorySegment region(ByteBuf buf) {
        if (buf.hasMemoryAddress()) {
            return MemorySegment.ofAddress(buf.memoryAddress() + buf.readerIndex());
        }
        return MemorySegment.ofBuffer(buf.nioBuffer(buf.readerIndex(), buf.readableBytes()));
    }
}
