package io.synproxy.relay;

import io.synproxy.config.ProxyProtocol;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RelaySettingsTest {
    private static final InetSocketAddress BACKEND = new InetSocketAddress("127.0.0.1", 8080);

    @Test
    void shouldReadEachModeInAnyCaseAndDefaultToAuto() {
        assertEquals(RelayMode.AUTO, RelayMode.parse(null));
        assertEquals(RelayMode.AUTO, RelayMode.parse(" "));
        assertEquals(RelayMode.SPLICE, RelayMode.parse("Splice"));
        assertEquals(RelayMode.COPY, RelayMode.parse("copy "));
    }

    @Test
    void shouldNameTheValidModesWhenTheModeIsUnknown() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RelayMode.parse("zero"));
        assertTrue(e.getMessage().contains("auto, splice or copy"), e.getMessage());
    }

    @Test
    void shouldRefuseSettingsNoRelayCouldRunWith() {
        assertThrows(IllegalArgumentException.class,
                () -> new RelaySettings(BACKEND, 0, 0, ProxyProtocol.OFF, null, RelayMode.AUTO, 65536));
        assertThrows(IllegalArgumentException.class,
                () -> new RelaySettings(BACKEND, 1000, -1, ProxyProtocol.OFF, null, RelayMode.AUTO, 65536));
        assertThrows(IllegalArgumentException.class,
                () -> new RelaySettings(BACKEND, 1000, 0, ProxyProtocol.OFF, null, RelayMode.AUTO, 100));
        assertThrows(NullPointerException.class,
                () -> new RelaySettings(null, 1000, 0, ProxyProtocol.OFF, null, RelayMode.AUTO, 65536));
    }

    @Test
    void shouldChangeOnlyTheModeWithMode() {
        RelaySettings s = new RelaySettings(BACKEND, 1000, 5, ProxyProtocol.V2, null, RelayMode.AUTO, 65536);
        RelaySettings c = s.withMode(RelayMode.COPY);
        assertEquals(RelayMode.COPY, c.mode());
        assertEquals(s, c.withMode(RelayMode.AUTO));
    }

    @Test
    void shouldCallADirectionStreamingOnlyAfterARunOfFullReads() {
        assertEquals(false, Flow.streaming(Flow.FULL_READS_TO_SPLICE - 1));
        assertEquals(true, Flow.streaming(Flow.FULL_READS_TO_SPLICE));
    }

    @Test
    void shouldTellABrokenConnectionFromASpliceThatFailedItself() {
        for (int errno : new int[] {32, 104, 107, 110, 113}) {
            assertEquals(true, Flow.broken(errno), "errno " + errno + " ends the connection");
        }
        for (int errno : new int[] {22, 12, 38}) {
            assertEquals(false, Flow.broken(errno), "errno " + errno + " sends an empty pipe's direction to copying");
        }
    }
}
