package io.synproxy.server;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LoopPackingTest {
    @Test
    void shouldStartWithOneLoopAndKeepItWhileItHasRoom() {
        LoopPacking p = new LoopPacking(4);
        assertEquals(1, p.taking());
        assertEquals(1, p.next(new double[] {0.2, 0, 0, 0}));
        assertEquals(1, p.next(new double[] {LoopPacking.SPREAD_ABOVE, 0, 0, 0}));
    }

    @Test
    void shouldDoubleTheLoopsWhenATakingOneIsPastHalfACore() {
        LoopPacking p = new LoopPacking(6);
        assertEquals(2, p.next(new double[] {0.7, 0, 0, 0, 0, 0}));
        assertEquals(4, p.next(new double[] {0.3, 0.6, 0, 0, 0, 0}));
        assertEquals(6, p.next(new double[] {0.6, 0.6, 0.6, 0.6, 0, 0}));
        assertEquals(6, p.next(new double[] {0.9, 0.9, 0.9, 0.9, 0.9, 0.9}));
    }

    @Test
    void shouldNotSpreadForALoopThatTakesNoNewConnections() {
        // Loop 1's own connections keep it busy; loop 0, the one taking, has room.
        LoopPacking p = new LoopPacking(2);
        assertEquals(1, p.next(new double[] {0.1, 0.95}));
    }

    @Test
    void shouldGiveALoopBackOnlyAfterQuietPeriodsInARow() {
        LoopPacking p = new LoopPacking(2);
        assertEquals(2, p.next(new double[] {0.8, 0}));
        double[] quiet = {0.1, 0.1};
        for (int i = 1; i < LoopPacking.QUIET_PERIODS; i++) {
            assertEquals(2, p.next(quiet));
        }
        // A busy period in between starts the count again.
        assertEquals(2, p.next(new double[] {0.3, 0.3}));
        for (int i = 1; i < LoopPacking.QUIET_PERIODS; i++) {
            assertEquals(2, p.next(quiet));
        }
        assertEquals(1, p.next(quiet));
    }

    @Test
    void shouldGiveBackOneLoopAtATime() {
        LoopPacking p = new LoopPacking(4);
        p.next(new double[] {0.9, 0, 0, 0});
        p.next(new double[] {0.9, 0.9, 0, 0});
        assertEquals(4, p.taking());
        double[] idle = new double[4];
        int[] seen = new int[LoopPacking.QUIET_PERIODS * 3];
        for (int i = 0; i < seen.length; i++) {
            seen[i] = p.next(idle);
        }
        assertEquals(3, seen[LoopPacking.QUIET_PERIODS - 1]);
        assertEquals(2, seen[2 * LoopPacking.QUIET_PERIODS - 1]);
        assertEquals(1, seen[3 * LoopPacking.QUIET_PERIODS - 1]);
    }

    @Test
    void shouldKeepOneLoopAlone() {
        LoopPacking p = new LoopPacking(1);
        assertEquals(1, p.next(new double[] {1.0}));
    }

    @Test
    void shouldRefuseLoadsThatDoNotMatchTheLoops() {
        assertThrows(IllegalArgumentException.class, () -> new LoopPacking(2).next(new double[] {0.1}));
        assertThrows(IllegalArgumentException.class, () -> new LoopPacking(0));
    }
}
