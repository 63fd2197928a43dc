package io.synproxy.relay;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class PipePoolTest {
    @Test
    void shouldHandAnEmptyReturnedPipeToTheNextDirection() throws Exception {
        PipePool pool = new PipePool(65536);
        PipePool.Pipe p = pool.acquire();
        pool.release(p, true);
        assertEquals(1, pool.idle());
        assertSame(p, pool.acquire());
        pool.release(p, true);
        pool.close();
        assertEquals(0, pool.open());
    }

    @Test
    void shouldCloseAPipeThatMayStillHoldBytesInsteadOfReturningIt() throws Exception {
        PipePool pool = new PipePool(65536);
        PipePool.Pipe p = pool.acquire();
        pool.release(p, false);
        assertEquals(0, pool.idle());
        assertEquals(0, pool.open());
    }

    @Test
    void shouldKeepAtMostMaxIdlePipes() throws Exception {
        PipePool pool = new PipePool(65536);
        PipePool.Pipe[] pipes = new PipePool.Pipe[PipePool.MAX_IDLE + 3];
        for (int i = 0; i < pipes.length; i++) {
            pipes[i] = pool.acquire();
        }
        for (PipePool.Pipe p : pipes) {
            pool.release(p, true);
        }
        assertEquals(PipePool.MAX_IDLE, pool.idle());
        assertEquals(PipePool.MAX_IDLE, pool.open());
        pool.close();
        assertEquals(0, pool.open());
    }
}
