package io.synproxy.relay;

import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;

import java.util.ArrayDeque;

/**
 * One event loop's spare splice pipes (HAProxy keeps such a pool): a direction takes one when it starts
 * splicing and gives it back empty when it ends. A pipe that may still hold bytes is closed, never returned,
 * or the next connection would receive the previous one's data. The idle pipes are kept only while some
 * direction on the loop still splices (a burst of bulk streams reuses them); when the last one ends they are
 * closed, so that an idle proxy holds no pipe descriptors. Used on one loop thread only.
 */
final class PipePool {
    /** Idle pipes kept per loop, empty; more are closed. */
    static final int MAX_IDLE = 64;
    /** A new pipe's capacity on Linux: 16 pages. */
    static final int DEFAULT_CAPACITY = 64 << 10;

    private final int pipeBytes;
    private final ArrayDeque<Pipe> idle = new ArrayDeque<>();
    private int open;
    private int inUse;

    PipePool(int pipeBytes) {
        this.pipeBytes = pipeBytes;
    }

    /** The most bytes a direction keeps in its pipe. */
    int pipeBytes() {
        return pipeBytes;
    }

    /** A pipe known to be empty: an idle one, or a new one. */
    Pipe acquire() throws LinuxException {
        Pipe p = idle.pollFirst();
        if (p == null) {
            int[] fds = Native.pipe();
            open++;
            int capacity = DEFAULT_CAPACITY;
            if (pipeBytes > DEFAULT_CAPACITY) {
                // Refused past fs.pipe-max-size or the user's pipe-user-pages-soft (a container without
                // CAP_SYS_RESOURCE): the pipe keeps its default capacity and the direction moves less per call.
                int got = Native.setPipeSize(fds[1], pipeBytes);
                capacity = got > 0 ? got : DEFAULT_CAPACITY;
            }
            p = new Pipe(fds[0], fds[1], Math.min(pipeBytes, capacity));
        }
        inUse++;
        return p;
    }

    /** Gives a pipe back: kept when {@code empty} and there is room, closed otherwise. */
    void release(Pipe p, boolean empty) {
        inUse--;
        if (empty && idle.size() < MAX_IDLE && inUse > 0) {
            idle.addFirst(p);
        } else {
            p.close();
            open--;
        }
        if (inUse == 0) {
            close();
        }
    }

    /** Pipes idle in the pool. */
    int idle() {
        return idle.size();
    }

    /** Pipes open, idle or in use. */
    int open() {
        return open;
    }

    /** Closes the idle pipes (at shutdown). */
    void close() {
        Pipe p;
        while ((p = idle.pollFirst()) != null) {
            p.close();
            open--;
        }
    }

    /** The two ends of one pipe. */
    record Pipe(int readFd, int writeFd, int capacity) {
        void close() {
            Native.close(readFd);
            Native.close(writeFd);
        }
    }
}
