package io.synproxy.config;

import io.synproxy.xdp.SynPath;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --handoff}: repair by default; kernel opens the SYN/ACK's window and refuses what needs the rings. */
class HandoffConfigTest {
    private static ProxyConfig.Builder builder() {
        return ProxyConfig.builder().listen("10.0.0.1:80").backend("127.0.0.1:9000");
    }

    @Test
    void shouldRepairBehindTheZeroWindowByDefault() throws ConfigException {
        ProxyConfig c = builder().build();
        assertEquals(Handoff.REPAIR, c.handoff());
        assertTrue(c.zeroWindow());
    }

    @Test
    void shouldOpenTheWindowWithTheKernelsHandoff() throws ConfigException {
        ProxyConfig c = builder().handoff(Handoff.KERNEL).build();
        assertEquals(Handoff.KERNEL, c.handoff());
        assertFalse(c.zeroWindow(), "the kernel's socket exists from the final ACK on: nothing to hold back");
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"RING", "XDP", "XDP_GENERIC"})
    void shouldRefuseEveryPathButTc(SynPath path) {
        ConfigException e = assertThrows(ConfigException.class,
                () -> builder().handoff(Handoff.KERNEL).synPath(path).build());
        assertTrue(e.getMessage().startsWith("--handoff kernel needs the SYNs answered at tc"), e.getMessage());
    }

    @Test
    void shouldTakeListsAndPerSourceLimits() throws ConfigException {
        Operations both = new Operations(null, List.of("10.0.0.0/8"), List.of("10.1.0.0/16"), List.of(), List.of(), 10,
                5, 24, 64, Operations.DEFAULT_INVALID_ACK_RST_RATE);
        ProxyConfig c = builder().handoff(Handoff.KERNEL).operations(both).build();
        assertTrue(c.operations().limitsSources());
        assertTrue(c.operations().listsSources());
    }

    @Test
    void shouldParseTheFlagsWords() {
        assertEquals(Handoff.KERNEL, Handoff.parse("kernel"));
        assertEquals(Handoff.REPAIR, Handoff.parse("repair"));
        assertEquals("--handoff must be repair or kernel: Kernel",
                assertThrows(IllegalArgumentException.class, () -> Handoff.parse("Kernel")).getMessage());
    }
}
