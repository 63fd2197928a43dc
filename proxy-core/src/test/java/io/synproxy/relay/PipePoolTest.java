package io.synproxy.relay;

import io.synproxy.linux.Native;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class PipePoolTest {
    @Test
    void shouldGiveEachPipeTheCapacityAskedFor() throws Exception {
        for (int bytes : new int[] {4096, 65536, 256 << 10, 1 << 20}) {
            PipePool pool = new PipePool(bytes);
            PipePool.Pipe p = pool.acquire();
            try {
                assertEquals(bytes, p.capacity(), "what a direction may keep in it");
                // The kernel's own view (F_GETPIPE_SZ): Linux's 64 KiB unless more was asked for.
                assertEquals(Math.max(bytes, 65536), Native.pipeSize(p.writeFd()));
            } finally {
                pool.release(p, false);
            }
        }
    }

    @Test
    void shouldHandAnEmptyReturnedPipeToTheNextDirection() throws Exception {
        PipePool pool = new PipePool(65536);
        PipePool.Pipe busy = pool.acquire();
        PipePool.Pipe p = pool.acquire();
        pool.release(p, true);
        assertEquals(1, pool.idle());
        assertSame(p, pool.acquire());
        pool.release(p, true);
        pool.release(busy, true);
        assertEquals(0, pool.open(), "the last direction to stop splicing closes the idle pipes");
    }

    @Test
    void shouldCloseAPipeThatMayStillHoldBytesInsteadOfReturningIt() throws Exception {
        PipePool pool = new PipePool(65536);
        PipePool.Pipe busy = pool.acquire();
        PipePool.Pipe p = pool.acquire();
        pool.release(p, false);
        assertEquals(0, pool.idle());
        assertEquals(1, pool.open());
        pool.release(busy, true);
    }

    @Test
    void shouldKeepAtMostMaxIdlePipes() throws Exception {
        PipePool pool = new PipePool(65536);
        PipePool.Pipe[] pipes = new PipePool.Pipe[PipePool.MAX_IDLE + 3];
        for (int i = 0; i < pipes.length; i++) {
            pipes[i] = pool.acquire();
        }
        for (int i = 0; i < pipes.length - 1; i++) {
            pool.release(pipes[i], true);
        }
        assertEquals(PipePool.MAX_IDLE, pool.idle());
        assertEquals(PipePool.MAX_IDLE + 1, pool.open());
        pool.release(pipes[pipes.length - 1], true);
        assertEquals(0, pool.open());
    }
}
