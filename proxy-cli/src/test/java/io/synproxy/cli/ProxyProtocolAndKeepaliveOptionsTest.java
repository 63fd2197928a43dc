package io.synproxy.cli;

import io.synproxy.config.Keepalive;
import io.synproxy.config.ProxyConfig;
import io.synproxy.config.ProxyProtocol;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --keepalive and --proxy-protocol: parsing and validation, which end before anything is started. */
class ProxyProtocolAndKeepaliveOptionsTest {

    @Test
    void shouldParseKeepaliveAsIdleIntervalCountOrOff() {
        KeepaliveConverter c = new KeepaliveConverter();
        assertEquals(new Keepalive(Duration.ofSeconds(60), Duration.ofSeconds(10), 6), c.convert("60s,10s,6"));
        assertEquals(new Keepalive(Duration.ofMinutes(2), Duration.ofSeconds(5), 3), c.convert("2m, 5, 3"));
        assertNull(c.convert("off"));
    }

    @Test
    void shouldBuildAConfigWithBothOptions() throws Exception {
        ProxyConfig config = ProxyConfig.builder().listen("10.0.0.1:80").backend("127.0.0.1:8080")
                .proxyProtocol(ProxyProtocol.V2).keepalive(new Keepalive(Duration.ofSeconds(30), Duration.ofSeconds(5), 4))
                .build();
        assertEquals(ProxyProtocol.V2, config.proxyProtocol());
        assertEquals(30, config.keepalive().idleSeconds());
        ProxyConfig defaults = ProxyConfig.builder().listen("10.0.0.1:80").backend("127.0.0.1:8080").build();
        assertEquals(ProxyProtocol.OFF, defaults.proxyProtocol());
        assertNull(defaults.keepalive());
    }

    @ParameterizedTest
    @ValueSource(strings = {"--keepalive=1s,1s", "--keepalive=x,1s,3", "--keepalive=1s,1s,many", "--keepalive=500ms,1s,3",
        "--keepalive=1s,0s,3", "--keepalive=1s,1s,0", "--keepalive=1s,1s,128", "--keepalive=40000s,1s,3",
        "--proxy-protocol=v3"})
    void shouldRejectBadValuesWithExitCodeTwoAndOneSentence(String option) {
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int code;
        try {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            code = Main.execute("run", "--listen", "10.0.0.1:80", "--backend", "127.0.0.1:8080", option);
        } finally {
            System.setErr(err);
        }
        String message = captured.toString(StandardCharsets.UTF_8);
        assertEquals(Main.EXIT_USAGE, code, message);
        assertTrue(message.contains("keepalive") || message.contains("proxy-protocol") || message.contains("--keepalive"),
                message);
    }
}
