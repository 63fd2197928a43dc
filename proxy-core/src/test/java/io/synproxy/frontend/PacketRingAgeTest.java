package io.synproxy.frontend;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

class PacketRingAgeTest {
    private static final int FRAMES = 4;

    @Test
    void shouldTellHowLongAFrameHasBeenInTheRingFromItsKernelTimestamp() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate((long) PacketRing.HEADER_FRAME_SIZE * FRAMES, 16);
            PacketRing ring = PacketRing.inMemory(mem, PacketRing.HEADER_FRAME_SIZE, FRAMES);
            long frame = PacketRing.HEADER_FRAME_SIZE;
            // 2026-12-03T08:00:00.250 UTC, as the kernel writes it: seconds and nanoseconds, 32 bits each.
            long sec = 1_796_284_800L;
            stamp(mem, frame, sec, 250_000_000);
            long stamped = sec * 1000 + 250;

            assertEquals(0, ring.ageMillis(frame, stamped));
            assertEquals(37, ring.ageMillis(frame, stamped + 37));
            assertEquals(0, ring.ageMillis(frame, stamped - 5), "a clock that went back is no wait");
            assertEquals(-1, ring.ageMillis(frame, stamped - 2 * PacketRing.MAX_PLAUSIBLE_AGE_MILLIS),
                    "a clock that stepped back an hour or more is no age at all");
        }
    }

    @Test
    void shouldNotTakeAStampFromAnotherClockForAWait() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate((long) PacketRing.HEADER_FRAME_SIZE * FRAMES, 16);
            PacketRing ring = PacketRing.inMemory(mem, PacketRing.HEADER_FRAME_SIZE, FRAMES);
            // A monotonic stamp (seconds since boot) read against the wall clock: decades, not a wait.
            stamp(mem, 0, 5_000, 0);
            assertEquals(-1, ring.ageMillis(0, 1_796_284_800_000L));
        }
    }

    @Test
    void shouldReadTheSecondsAsUnsigned() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mem = arena.allocate((long) PacketRing.HEADER_FRAME_SIZE * FRAMES, 16);
            PacketRing ring = PacketRing.inMemory(mem, PacketRing.HEADER_FRAME_SIZE, FRAMES);
            // After 2038 tp_sec no longer fits a signed int.
            long sec = 0x9000_0000L;
            stamp(mem, 0, sec, 999_999_999);
            assertEquals(1, ring.ageMillis(0, sec * 1000 + 1000));
        }
    }

    private static void stamp(MemorySegment mem, long frame, long sec, int nsec) {
        mem.set(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_SEC, (int) sec);
        mem.set(ValueLayout.JAVA_INT, frame + PacketRing.FRAME_NSEC, nsec);
    }
}
