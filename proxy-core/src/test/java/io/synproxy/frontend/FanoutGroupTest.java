package io.synproxy.frontend;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** The two fanout group ids of a proxy's rings: the same for the same capture, never the same as each other. */
class FanoutGroupTest {
    private static InetSocketAddress at(String host, int port) throws Exception {
        return new InetSocketAddress(InetAddress.getByName(host), port);
    }

    @Test
    void shouldDeriveTheSameIdsFromTheSameListensInAnyOrder() throws Exception {
        List<InetSocketAddress> ab = List.of(at("10.0.0.1", 80), at("fd00::1", 443));
        List<InetSocketAddress> ba = List.of(at("fd00::1", 443), at("10.0.0.1", 80));
        assertEquals(FanoutGroup.id(3, ab), FanoutGroup.id(3, ba));
        assertEquals(FanoutGroup.restId(3, ab), FanoutGroup.restId(3, ba));
        assertNotEquals(FanoutGroup.id(3, ab), FanoutGroup.id(4, ab));
    }

    @Test
    void shouldNeverPutTheRestRingsInTheSynRingsGroup() throws Exception {
        // 2^16 ids: among 65,535 ports the two hashes collide for some, which the rest id then steps off.
        for (int port = 1; port <= 65_535; port++) {
            List<InetSocketAddress> listens = List.of(at("10.0.0.1", port));
            int id = FanoutGroup.id(2, listens);
            int rest = FanoutGroup.restId(2, listens);
            assertNotEquals(id, rest, "port " + port);
            assertEquals(rest & 0xffff, rest, "a 16-bit id for port " + port);
        }
    }

    @Test
    void shouldKeepTheLoopbackRingsInAGroupOfTheirOwn() throws Exception {
        for (int port = 1; port <= 65_535; port++) {
            List<InetSocketAddress> listens = List.of(at("10.0.0.1", port));
            int local = FanoutGroup.localId(2, listens);
            assertNotEquals(FanoutGroup.id(2, listens), local, "port " + port);
            assertNotEquals(FanoutGroup.restId(2, listens), local, "port " + port);
            assertEquals(local & 0xffff, local, "a 16-bit id for port " + port);
            assertEquals(local, FanoutGroup.localId(2, listens), "the same for a second instance");
        }
    }
}
