package io.synproxy.frontend;

import io.synproxy.packet.TcpSegment;
import io.synproxy.policy.SourceAccess;
import io.synproxy.testsupport.TcpPacket;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AccessAdmissionTest {
    /** Enough prefixes for the indexed table (PrefixSet.INDEXED_RANGES), one of them the client's /24 of each family. */
    private static SourceAccess manyPrefixes() throws Exception {
        List<String> deny = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            // Not adjacent, so that they stay 300 ranges each.
            deny.add("172." + (16 + i / 256) + "." + (i % 256) + ".0/25");
            deny.add("2001:db8:" + Integer.toHexString(2 * i) + "::/48");
        }
        deny.add("198.51.100.0/24");
        deny.add("2001:db9:1::/48");
        return SourceAccess.load(deny, List.of(), List.of(), List.of());
    }

    @Test
    void shouldReadAheadTheTableEntryTheLookupOfTheSourceReads() throws Exception {
        SourceAccess access = manyPrefixes();
        AccessAdmission admission = new AccessAdmission(access);
        assertTrue(admission.prefetches());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(256);
            int src = 0xC633_6407; // 198.51.100.7
            int len = TcpPacket.ipv4(src, 0x0A00_0001).ports(40000, 80).flags(TcpPacket.SYN).writeTo(seg, 0);
            long entry = access.touch(0, TcpSegment.mapped(src));
            assertNotEquals(0, entry, "the source's bucket holds the boundaries of its /24");
            assertEquals(entry, admission.prefetch(seg, 0, len));
            assertEquals(0, admission.prefetch(seg, 0, 23), "too short to hold an IPv6 source: not read");

            len = TcpPacket.between("2001:db9:1::5", "2001:db8:ffff::1").ports(40000, 80).flags(TcpPacket.SYN)
                    .writeTo(seg, 0);
            byte[] a = InetAddress.getByName("2001:db9:1::5").getAddress();
            ByteBuffer b = ByteBuffer.wrap(a);
            long v6 = access.touch(b.getLong(), b.getLong());
            assertNotEquals(0, v6);
            assertEquals(v6, admission.prefetch(seg, 0, len));
        }
    }

    @Test
    void shouldNotReadAheadWithoutAList() throws Exception {
        assertFalse(new AccessAdmission(SourceAccess.open()).prefetches());
        assertEquals(0, SourceAccess.open().touch(0, TcpSegment.mapped(0x0A00_0002)));
    }
}
