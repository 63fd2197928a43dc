package io.synproxy.config;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SizeTest {
    private static final int MIN = 128 << 10;

    @Test
    void shouldParseBytesAndBinarySuffixes() throws ConfigException {
        assertEquals(8 << 20, ProxyConfig.parseSize("--ring-size", "8m", MIN, ProxyConfig.MAX_RING_BYTES));
        assertEquals(8 << 20, ProxyConfig.parseSize("--ring-size", " 8M ", MIN, ProxyConfig.MAX_RING_BYTES));
        assertEquals(512 << 10, ProxyConfig.parseSize("--ring-size", "512k", MIN, ProxyConfig.MAX_RING_BYTES));
        assertEquals(1 << 30, ProxyConfig.parseSize("--ring-size", "1g", MIN, ProxyConfig.MAX_RING_BYTES));
        assertEquals(MIN, ProxyConfig.parseSize("--ring-size", "131072", MIN, ProxyConfig.MAX_RING_BYTES));
    }

    @Test
    void shouldRefuseWhatIsNotASizeOrOutOfRangeInOneSentence() {
        for (String bad : new String[] {"", "m", "-4m", "4mb", "4.5m", "four", "99999999999999g"}) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> ProxyConfig.parseSize("--ring-size", bad, MIN, ProxyConfig.MAX_RING_BYTES), bad);
            assertEquals("--ring-size '" + bad + "' is not a size (e.g. 512k, 4m, 1g)", e.getMessage());
        }
        ConfigException small = assertThrows(ConfigException.class,
                () -> ProxyConfig.parseSize("--ring-size", "64k", MIN, ProxyConfig.MAX_RING_BYTES));
        assertEquals("--ring-size '64k' is outside 128k-1024m", small.getMessage());
        assertThrows(ConfigException.class,
                () -> ProxyConfig.parseSize("--ring-size", "2g", MIN, ProxyConfig.MAX_RING_BYTES));
        // 2^34 + 1 GiB wraps to exactly 1 GiB in 64 bits: refused, not taken for 1g.
        ConfigException wrapped = assertThrows(ConfigException.class,
                () -> ProxyConfig.parseSize("--ring-size", "17179869185g", MIN, ProxyConfig.MAX_RING_BYTES));
        assertEquals("--ring-size '17179869185g' is outside 128k-1024m", wrapped.getMessage());
    }

    @Test
    void shouldBoundThePipeSize() throws ConfigException {
        assertEquals(ProxyConfig.DEFAULT_PIPE_BYTES, ProxyConfig.builder().listen("10.0.0.1:80")
                .backend("127.0.0.1:8080").build().pipeBytes(), "1 MiB unless asked otherwise");
        assertEquals(1 << 20, ProxyConfig.builder().listen("10.0.0.1:80").backend("127.0.0.1:8080")
                .pipeBytes(1 << 20).build().pipeBytes());
        for (int bad : new int[] {4095, (64 << 20) + 1}) {
            ConfigException e = assertThrows(ConfigException.class, () -> ProxyConfig.builder().listen("10.0.0.1:80")
                    .backend("127.0.0.1:8080").pipeBytes(bad).build());
            assertEquals("--pipe-size must be between 4k and 64m", e.getMessage());
        }
    }
}
