package io.synproxy.xdp;

import io.synproxy.cookie.KeyRing;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** What {@code --syn-path} refuses before anything is loaded: no root needed. */
class XdpFastPathListensTest {
    private static final byte[] MAC = {2, 0, 0, 0, 0, 1};
    private final KeyRing keys = KeyRing.random(60_000, () -> 0L);

    @ParameterizedTest
    @ValueSource(strings = {"10.0.0.1", "2001:db8::1"})
    void shouldRefuseMoreListensOfOneFamilyThanTheProgramHolds(String address) {
        List<InetSocketAddress> listens = new ArrayList<>();
        for (int port = 1; port <= 9; port++) {
            listens.add(new InetSocketAddress(address, port));
        }
        XdpException e = assertThrows(XdpException.class,
                () -> XdpFastPath.load(listens, MAC, keys, 1460, 1440, 7, 0, 0));
        assertEquals("the program takes at most 8 listens of each family, not 9", e.getMessage());
    }

    @Test
    void shouldParseThePathsAsTheFlagSpellsThem() {
        for (SynPath p : SynPath.values()) {
            assertEquals(p, SynPath.parse(p.label()));
        }
        assertEquals(List.of(SynPath.TC, SynPath.XDP, SynPath.XDP_GENERIC),
                Arrays.stream(SynPath.values()).filter(SynPath::inKernel).toList(), "auto is resolved before it attaches");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SynPath.parse("xdp_generic"));
        assertEquals("--syn-path must be auto, ring, tc, xdp or xdp-generic: xdp_generic", e.getMessage());
    }
}
