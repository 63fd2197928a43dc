package io.synproxy.server;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** How {@code --ring-size} is shared between a loop's SYN ring and its ring for the other segments. */
class RingSplitTest {
    private static final int BLOCK = 1 << 16;

    @Test
    void shouldGiveTheSynsThreeQuartersAndTheRestAQuarterInWholeBlocks() {
        assertEquals(6 << 20, Loop.synRingBytes(8 << 20));
        assertEquals(2 << 20, Loop.restRingBytes(8 << 20));
        // 10 blocks: a quarter is 2.5 blocks, rounded down; the SYN ring takes what is left.
        assertEquals(2 * BLOCK, Loop.restRingBytes(10 * BLOCK));
        assertEquals(8 * BLOCK, Loop.synRingBytes(10 * BLOCK));
    }

    @Test
    void shouldKeepTwoBlocksInEachRingAtTheSmallestSize() {
        assertEquals(2 * BLOCK, Loop.restRingBytes(2 * BLOCK));
        assertEquals(2 * BLOCK, Loop.synRingBytes(2 * BLOCK));
        assertEquals(2 * BLOCK, Loop.restRingBytes(5 * BLOCK));
        assertEquals(3 * BLOCK, Loop.synRingBytes(5 * BLOCK));
    }

    @Test
    void shouldGiveEachRingASixteenthWhenTheProgramScreens() {
        assertEquals(512 << 10, Loop.screenedRingBytes(8 << 20));
        // 40 blocks: a sixteenth is 2.5 blocks, rounded down; never under two.
        assertEquals(2 * BLOCK, Loop.screenedRingBytes(40 * BLOCK));
        assertEquals(2 * BLOCK, Loop.screenedRingBytes(2 * BLOCK));
    }
}
