package io.synproxy.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every {@code run} option can come from a SYNPROXY_* variable; the command line wins. */
class EnvironmentDefaultsTest {

    private static RunCommand parse(Map<String, String> env, String... args) {
        RunCommand run = new RunCommand();
        CommandLine cli = new CommandLine(run);
        cli.registerConverter(Duration.class, new DurationConverter());
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setDefaultValueProvider(new EnvironmentDefaults(env));
        cli.parseArgs(args);
        return run;
    }

    @Test
    void shouldTakeEveryRunOptionFromTheEnvironment() {
        RunCommand run = parse(Map.ofEntries(
                Map.entry("SYNPROXY_LISTEN", "10.0.0.1:80, [2001:db8::1]:443"),
                Map.entry("SYNPROXY_BACKEND", "127.0.0.1:8080"),
                Map.entry("SYNPROXY_INTERFACE", "eth0"),
                Map.entry("SYNPROXY_THREADS", "3"),
                Map.entry("SYNPROXY_STATS_INTERVAL", "0"),
                Map.entry("SYNPROXY_KEY_ROTATION", "30s"),
                Map.entry("SYNPROXY_BACKEND_CONNECT_TIMEOUT", "2s"),
                Map.entry("SYNPROXY_MAX_CONNECTIONS", "500"),
                Map.entry("SYNPROXY_ZERO_WINDOW", "false"),
                Map.entry("SYNPROXY_IDLE_TIMEOUT", "1m"),
                Map.entry("SYNPROXY_DRAIN_TIMEOUT", "2s"),
                Map.entry("SYNPROXY_PROXY_PROTOCOL", "v2"),
                Map.entry("SYNPROXY_KEEPALIVE", "60s,10s,6")));
        assertEquals(List.of("10.0.0.1:80", "[2001:db8::1]:443"), run.listen);
        assertEquals("127.0.0.1:8080", run.backend);
        assertEquals("eth0", run.interfaceName);
        assertEquals(3, run.threads);
        assertEquals(Duration.ZERO, run.statsInterval);
        assertEquals(Duration.ofSeconds(30), run.keyRotation);
        assertEquals(Duration.ofSeconds(2), run.backendConnectTimeout);
        assertEquals(500, run.maxConnections);
        assertFalse(run.zeroWindow);
        assertEquals(Duration.ofMinutes(1), run.idleTimeout);
        assertEquals(Duration.ofSeconds(2), run.drainTimeout);
        assertEquals("V2", run.proxyProtocol.name());
        assertEquals(6, run.keepalive.count());
    }

    @Test
    void shouldLetTheCommandLineWinAndKeepDefaultsForUnsetVariables() {
        RunCommand run = parse(Map.of("SYNPROXY_LISTEN", "10.0.0.1:80", "SYNPROXY_BACKEND", "127.0.0.1:8080",
                        "SYNPROXY_THREADS", ""),
                "--listen", "10.0.0.2:81", "--listen", "10.0.0.3:82,10.0.0.4:83");
        assertEquals(List.of("10.0.0.2:81", "10.0.0.3:82", "10.0.0.4:83"), run.listen);
        assertEquals("127.0.0.1:8080", run.backend);
        RunCommand defaults = new RunCommand();
        assertEquals(defaults.threads, run.threads);
        assertEquals(defaults.statsInterval, run.statsInterval);
        assertTrue(run.zeroWindow);
    }

    @Test
    void shouldStillRequireListenAndBackendWhenNeitherGiven() {
        assertThrows(CommandLine.MissingParameterException.class,
                () -> parse(Map.of("SYNPROXY_BACKEND", "127.0.0.1:8080")));
    }

    @Test
    void shouldRejectABadValueFromTheEnvironmentLikeOneOnTheCommandLine() {
        assertThrows(CommandLine.ParameterException.class,
                () -> parse(Map.of("SYNPROXY_LISTEN", "10.0.0.1:80", "SYNPROXY_BACKEND", "127.0.0.1:8080",
                        "SYNPROXY_THREADS", "many")));
    }
}
