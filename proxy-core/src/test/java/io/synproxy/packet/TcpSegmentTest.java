package io.synproxy.packet;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static io.synproxy.packet.TcpSegment.mapped;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one segment view of both families, and the writer filled by name. */
class TcpSegmentTest {
    private static final long V6_HI = 0xfd00_0200_0000_0000L;

    private final TcpSegmentWriter writer = new TcpSegmentWriter();
    private final TcpSegment segment = new TcpSegment();
    private final MemorySegment buf = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);

    @Test
    void shouldGiveIpv4AddressesInTheirMappedForm() {
        int len = writer.from(0, mapped(0x0A00_0002), 40000).to(0, mapped(0x0A00_0001), 80)
                .seq(7).flags(TcpFlyweight.SYN).write(buf, 0);
        assertEquals(Reject.NONE, segment.parse(buf, 0, len, true));
        assertFalse(segment.ipv6());
        assertEquals(0, segment.srcHi());
        assertEquals(0x0000_FFFF_0A00_0002L, segment.srcLo());
        assertEquals(0x0000_FFFF_0A00_0001L, segment.dstLo());
        assertEquals(0x0A00_0002, segment.src());
        assertTrue(TcpSegment.isMapped(segment.srcHi(), segment.srcLo()));
    }

    @Test
    void shouldTellTheFamilyByTheVersionNibble() {
        int len = writer.from(V6_HI, 2, 40000).to(V6_HI, 1, 80).seq(7).flags(TcpFlyweight.SYN).write(buf, 0);
        assertEquals(Ipv6Flyweight.HEADER_LENGTH + TcpFlyweight.HEADER_LENGTH, len);
        assertTrue(TcpSegment.isIpv6(buf, 0, len));
        assertEquals(Reject.NONE, segment.parse(buf, 0, len, true));
        assertTrue(segment.ipv6());
        assertEquals(V6_HI, segment.srcHi());
        assertEquals(2, segment.srcLo());
        assertEquals(1, segment.dstLo());
        assertFalse(TcpSegment.isMapped(segment.srcHi(), segment.srcLo()));
        assertEquals(Reject.NOT_IPV4, segment.parse4(buf, 0, len, true), "the family-specific entry points refuse");
    }

    @Test
    void shouldStartEachSegmentFromTheDefaults() {
        int first = writer.from(0, mapped(0x0A00_0002), 40000).to(0, mapped(0x0A00_0001), 80)
                .flags(TcpFlyweight.SYN).window(500).mss(1460)
                .wscale(7).sackPermitted(true).timestamps(10, 0).write(buf, 0);
        assertEquals(60, first);
        int second = writer.from(0, mapped(0x0A00_0002), 40000).to(0, mapped(0x0A00_0001), 80).ack(1).write(buf, 0);
        assertEquals(40, second, "no option carried over");
        assertEquals(Reject.NONE, segment.parse(buf, 0, second, true));
        assertEquals(0, segment.flags());
        assertEquals(0, segment.window());
        assertEquals(-1, segment.options().mss());
        assertFalse(segment.options().hasTimestamps());
    }

    @Test
    void shouldChecksumBothFamiliesInOnePlace() {
        int len4 = writer.from(0, mapped(0x0A00_0002), 40000).to(0, mapped(0x0A00_0001), 80)
                .flags(TcpFlyweight.ACK).write(buf, 0);
        assertEquals(0, TcpChecksum.ipv4(buf, 0), "a filled-in IPv4 checksum verifies");
        buf.set(Bits.BYTE, len4 - 1, (byte) 0x55);
        assertTrue(TcpChecksum.ipv4(buf, 0) != 0);
        int len6 = writer.from(V6_HI, 2, 40000).to(V6_HI, 1, 80).flags(TcpFlyweight.ACK).write(buf, 0);
        assertEquals(0, TcpChecksum.ipv6(buf, 0, Ipv6Flyweight.HEADER_LENGTH, len6 - Ipv6Flyweight.HEADER_LENGTH));
    }
}
