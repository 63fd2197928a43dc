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

/**
 * {@code --handoff}: auto by default, resolved at start (repair where the SYNs are not answered at tc); kernel opens
 * the SYN/ACK's window and refuses what needs the rings.
 */
class HandoffConfigTest {
    private static ProxyConfig.Builder builder() {
        return ProxyConfig.builder().listen("10.0.0.1:80").backend("127.0.0.1:9000");
    }

    @Test
    void shouldLeaveTheChoiceToTheStartByDefault() throws ConfigException {
        ProxyConfig c = builder().build();
        assertEquals(Handoff.AUTO, c.handoff());
        assertTrue(c.zeroWindow(), "kept for the repair handoff, should the start come to it");
        ProxyConfig kernel = c.withHandoff(Handoff.KERNEL);
        assertEquals(Handoff.KERNEL, kernel.handoff());
        assertFalse(kernel.zeroWindow());
        ProxyConfig repair = c.withHandoff(Handoff.REPAIR);
        assertEquals(Handoff.REPAIR, repair.handoff());
        assertTrue(repair.zeroWindow());
        assertEquals(c.listens(), repair.listens());
        assertFalse(builder().zeroWindow(false).build().withHandoff(Handoff.REPAIR).zeroWindow(), "--no-zero-window");
        assertThrows(IllegalArgumentException.class, () -> c.withHandoff(Handoff.AUTO));
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"RING", "XDP", "XDP_GENERIC"})
    void shouldComeToTheRepairHandoffWhereTheSynsAreNotAnsweredAtTc(SynPath path) throws ConfigException {
        ProxyConfig c = builder().synPath(path).build();
        assertEquals(Handoff.REPAIR, c.handoff());
        assertTrue(c.zeroWindow());
    }

    @Test
    void shouldRepairBehindTheZeroWindowWhenAskedTo() throws ConfigException {
        ProxyConfig c = builder().handoff(Handoff.REPAIR).build();
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
        assertEquals(Handoff.AUTO, Handoff.parse("auto"));
        assertEquals("--handoff must be auto, repair or kernel: Kernel",
                assertThrows(IllegalArgumentException.class, () -> Handoff.parse("Kernel")).getMessage());
    }
}
