package io.synproxy.server;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The kernel release test behind {@code --handoff auto}: 6.9 or newer, read from the release string. */
class HandoffChoiceTest {
    @Test
    void shouldTellReleasesFromSixNineOn() {
        assertTrue(HandoffChoice.atLeast("6.9.0", HandoffChoice.KERNEL_RELEASE));
        assertTrue(HandoffChoice.atLeast("6.18.44-fc-v1272", HandoffChoice.KERNEL_RELEASE));
        assertTrue(HandoffChoice.atLeast("7.0-rc1", HandoffChoice.KERNEL_RELEASE));
        assertTrue(HandoffChoice.atLeast("6.10.3-arch1-1", HandoffChoice.KERNEL_RELEASE), "10 is above 9, not below");
        assertFalse(HandoffChoice.atLeast("6.8.0-49-generic", HandoffChoice.KERNEL_RELEASE));
        assertFalse(HandoffChoice.atLeast("5.15.0", HandoffChoice.KERNEL_RELEASE));
        assertFalse(HandoffChoice.atLeast("unknown", HandoffChoice.KERNEL_RELEASE));
        assertFalse(HandoffChoice.atLeast("", HandoffChoice.KERNEL_RELEASE));
    }
}
