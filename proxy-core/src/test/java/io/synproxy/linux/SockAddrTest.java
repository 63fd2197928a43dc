package io.synproxy.linux;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** struct sockaddr_in6 as Linux lays it out: family, port (big-endian), flow info, address, scope id (native). */
class SockAddrTest {
    @Test
    void shouldPutTheScopeIdOfALinkLocalAddressAfterTheAddress() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = SockAddr.in6(SockAddr.allocateIn6(arena), 0xfe80_0000_0000_0000L, 1, 8080);
            assertEquals(0, s.get(ValueLayout.JAVA_INT_UNALIGNED, 24), "no scope until one is set");
            SockAddr.scope6(s, 7);
            assertEquals(Constants.AF_INET6, s.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
            assertEquals((byte) 0x1f, s.get(ValueLayout.JAVA_BYTE, 2), "port 8080, high byte first");
            assertEquals((byte) 0x90, s.get(ValueLayout.JAVA_BYTE, 3));
            assertEquals((byte) 0xfe, s.get(ValueLayout.JAVA_BYTE, 8), "the address from byte 8");
            assertEquals((byte) 1, s.get(ValueLayout.JAVA_BYTE, 23));
            assertEquals(7, s.get(ValueLayout.JAVA_INT_UNALIGNED, 24), "sin6_scope_id");
            assertEquals(SockAddr.SOCKADDR_IN6_SIZE, (int) s.byteSize());
        }
    }

    /** The peer's address as accept4 leaves it, keyed as the front end keys a source: IPv4 as ::ffff:a.b.c.d. */
    @Test
    void shouldReadAPeersAddressAndPortInTheFrontEndsKey() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v4 = SockAddr.in(arena.allocate(SockAddr.SOCKADDR_IN6_SIZE, 4), 0xC000_0281, 65_000);
            assertEquals(0, SockAddr.addressHi(v4));
            assertEquals(0xFFFF_C000_0281L, SockAddr.addressLo(v4), "192.0.2.129, mapped, no sign extension");
            assertEquals(65_000, SockAddr.port(v4), "a port above 32767, unsigned");
            MemorySegment v6 = SockAddr.in6(SockAddr.allocateIn6(arena), 0x2001_0db8_0000_0001L, 0x8000_0000_0000_0002L,
                    443);
            assertEquals(0x2001_0db8_0000_0001L, SockAddr.addressHi(v6));
            assertEquals(0x8000_0000_0000_0002L, SockAddr.addressLo(v6));
            assertEquals(443, SockAddr.port(v6));
        }
    }
}
