package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.synproxy.config.ProxyProtocol;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class ProxyHeaderTest {
    private static final InetSocketAddress CLIENT4 = new InetSocketAddress("198.51.100.23", 40000);
    private static final InetSocketAddress LOCAL4 = new InetSocketAddress("10.0.0.1", 443);

    @Test
    void shouldBuildNoHeaderWhenTheProtocolIsOff() {
        assertNull(ProxyHeader.of(ProxyProtocol.OFF, CLIENT4, LOCAL4));
        assertNull(ProxyHeader.encode(ProxyProtocol.OFF, CLIENT4, LOCAL4));
    }

    @Test
    void shouldWriteTheClientAndTheAddressItConnectedToInAVersionOneLine() {
        ByteBuf out = ProxyHeader.encode(ProxyProtocol.V1, CLIENT4, LOCAL4);
        assertEquals("PROXY TCP4 198.51.100.23 10.0.0.1 40000 443\r\n", out.toString(StandardCharsets.US_ASCII));
        out.release();
    }

    @Test
    void shouldWriteAnIpv6ClientAsTcp6InVersionTwo() {
        ByteBuf out = ProxyHeader.encode(ProxyProtocol.V2, new InetSocketAddress("2001:db8::2", 40000),
                new InetSocketAddress("2001:db8::1", 443));
        // 12-byte signature, version/command 0x21 (v2, PROXY), family 0x21 (AF_INET6, STREAM), 36 address bytes.
        assertEquals(16 + 36, out.readableBytes());
        assertEquals(0x21, out.getUnsignedByte(12));
        assertEquals(0x21, out.getUnsignedByte(13));
        assertEquals(36, out.getUnsignedShort(14));
        assertEquals(40000, out.getUnsignedShort(16 + 32));
        assertEquals(443, out.getUnsignedShort(16 + 34));
        out.release();
    }
}
