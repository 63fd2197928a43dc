package io.synproxy.relay;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class PipePoolTest {
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
