package io.synproxy.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpOptions;
import io.synproxy.packet.TcpSegment;
import io.synproxy.testsupport.TcpPacket;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing of the frame parser (Jazzer). In a normal {@code mvn verify} this runs the
 * stored inputs under {@code src/test/resources/io/synproxy/fuzz/PacketParserFuzzTestInputs/} as
 * regression tests; with {@code JAZZER_FUZZ=1} it fuzzes (see the README, "Fuzzing").
 *
 * <p>Properties: parsing never throws whatever the bytes, the offset or the claimed captured
 * length; an accepted frame's header and payload lie inside the captured bytes and the IP total
 * length; option values are within their wire ranges.
 */
class PacketParserFuzzTest {
    private final TcpSegment parser = new TcpSegment();

    @FuzzTest(maxDuration = "5m")
    void parse(FuzzedDataProvider data) {
        boolean ethernet = data.consumeBoolean();
        boolean verify = data.consumeBoolean();
        int offset = data.consumeInt(0, 3);
        int claim = data.consumeInt(-8, 16);
        boolean fixChecksums = data.consumeBoolean();
        byte[] bytes = data.consumeRemainingAsBytes();
        if (fixChecksums) {
            TcpPacket.fixChecksums(bytes, offset + (ethernet ? 14 : 0));
        }
        MemorySegment seg = MemorySegment.ofArray(bytes);
        // The captured length may claim more than the segment holds, or nothing at all.
        int captured = bytes.length - offset + claim;
        Reject r = ethernet ? parser.parse4(seg, offset + 14L, captured - 14, verify)
                : parser.parse4(seg, offset, captured, verify);
        assertNotNull(r);
        if (r != Reject.NONE) {
            return;
        }
        long ipOffset = offset + (ethernet ? 14 : 0);
        long ipEnd = ipOffset + parser.ip().totalLength();
        assertTrue(ipEnd <= bytes.length, "the IP packet lies inside the segment");
        assertTrue(ipEnd - ipOffset <= captured - (ethernet ? 14 : 0), "the IP packet lies inside the captured bytes");
        assertTrue(parser.payloadLength() >= 0, "payload length");
        assertTrue(parser.payloadOffset() >= ipOffset + 40, "IP and TCP headers come first");
        assertEquals(ipEnd, parser.payloadOffset() + parser.payloadLength(), "payload ends where the IP packet ends");
        TcpOptions o = parser.options();
        assertTrue(o.mss() >= -1 && o.mss() <= 0xffff, "mss " + o.mss());
        assertTrue(o.wscale() >= -1 && o.wscale() <= 0xff, "wscale " + o.wscale());
        // Every accessor the front end uses works on what was accepted.
        parser.src();
        parser.dst();
        parser.srcPort();
        parser.dstPort();
        parser.seq();
        parser.ack();
        parser.flags();
        parser.window();
    }
}
