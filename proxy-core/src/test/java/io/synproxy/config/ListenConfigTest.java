package io.synproxy.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The repeatable {@code --listen}: IPv4, IPv6, both, and what is refused. */
class ListenConfigTest {
    private static ProxyConfig build(String... listens) throws ConfigException {
        return ProxyConfig.builder().listens(List.of(listens)).backend("127.0.0.1:9000").build();
    }

    @Test
    void shouldKeepASingleIpv4ListenAsBefore() throws ConfigException {
        ProxyConfig c = ProxyConfig.builder().listen("10.0.0.1:80").backend("127.0.0.1:9000").build();
        assertEquals(1, c.listens().size());
        assertTrue(c.listens().getFirst().getAddress() instanceof Inet4Address);
        assertEquals(80, c.listens().getFirst().getPort());
        assertFalse(c.listens().getFirst().getAddress().isAnyLocalAddress());
        assertEquals("10.0.0.1:80", c.listenText());
    }

    @Test
    void shouldAcceptIpv6AndBothFamiliesInOneProxy() throws ConfigException {
        ProxyConfig c = build("0.0.0.0:80", "[::]:80", "[fd00::1]:8443");
        assertEquals(3, c.listens().size());
        assertTrue(c.listens().get(1).getAddress() instanceof Inet6Address);
        assertTrue(c.listens().get(1).getAddress().isAnyLocalAddress());
        assertTrue(c.listens().getFirst().getAddress().isAnyLocalAddress());
        assertEquals("0.0.0.0:80, [0:0:0:0:0:0:0:0]:80, [fd00:0:0:0:0:0:0:1]:8443", c.listenText());
        assertEquals(new InetSocketAddress("::1", 8080),
            ProxyConfig.builder().listen("[fd00::1]:80").backend("[::1]:8080").build().backend());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "[::]:80|[fd00::1]:80|overlaps",
        "[fd00::1]:80|[fd00:0::1]:80|overlaps",
        "0.0.0.0:80|10.0.0.1:80|overlaps",
        "10.0.0.1:80|10.0.0.1:80|overlaps",
        "[fe80::1]:80|[::]:81|link-local",
        "[ff02::1]:80|[::]:81|multicast"})
    void shouldRefuseOverlappingLinkLocalAndMulticastListens(String a, String b, String why) {
        ConfigException e = assertThrows(ConfigException.class, () -> build(a, b));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    @Test
    void shouldAllowTheSameAddressOnTwoPortsAndTheTwoWildcardsOnOnePort() throws ConfigException {
        assertEquals(2, build("10.0.0.1:80", "10.0.0.1:443").listens().size());
        assertEquals(2, build("0.0.0.0:80", "[::]:80").listens().size());
    }

    @Test
    void shouldRefuseABackendEqualToAnyListenAndTooManyListens() {
        assertThrows(ConfigException.class, () -> ProxyConfig.builder().listens(List.of("10.0.0.1:80", "[::1]:80"))
            .backend("[::1]:80").build());
        String[] many = new String[ProxyConfig.MAX_LISTENS + 1];
        for (int i = 0; i < many.length; i++) {
            many[i] = "10.0.0.1:" + (1000 + i);
        }
        assertThrows(ConfigException.class, () -> build(many));
        assertThrows(ConfigException.class, () -> ProxyConfig.builder().backend("127.0.0.1:9000").build(),
            "no --listen at all");
    }
}
