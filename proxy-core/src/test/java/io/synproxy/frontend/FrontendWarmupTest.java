package io.synproxy.frontend;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.handoff.ConnectionSink;
import io.synproxy.handoff.Handoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.TcpSegment;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;

class FrontendWarmupTest {
    /** Every warm-up SYN is answered into the TX ring in memory: none rejected, none through the fallback. */
    @ParameterizedTest
    @CsvSource({"true, false", "false, true", "true, true"})
    void shouldAnswerEverySynThroughTheTxRingAndSendNothing(boolean ipv4, boolean ipv6) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(256);
            Replies fallback = new Replies() {
                @Override
                public MemorySegment buffer() {
                    return buffer;
                }

                @Override
                public boolean send(int length, long hi, long lo) {
                    throw new AssertionError("the warm-up sent a packet");
                }
            };
            Handoff handoff = new Handoff() {
                @Override
                public int handoff(AckVerdict v, MemorySegment packet) {
                    throw new AssertionError("a SYN handed off");
                }

                @Override
                public int lastReceiveWindow() {
                    return 1 << 20;
                }
            };
            ConnectionSink sink = (fd, v, onClose) -> {
                throw new AssertionError("a SYN adopted");
            };
            Handshake handshake = new Handshake(new SynCookie(KeyRing.random(60_000, System::currentTimeMillis)), 1460,
                    1440, 7, true);
            Counters c = FrontendWarmup.run(new GateSettings(ipv4, ipv6, new int[] {80}, 100, 0), handshake, fallback,
                    Admission.ALL, handoff, sink, TcpSegment.mapped(0x0A00_0001), 0x2001_0db8_0000_0000L, 1, 80);
            assertEquals(FrontendWarmup.SYNS, c.get(Counter.SYN_RECEIVED), () -> c.toString());
            assertEquals(FrontendWarmup.SYNS, c.get(Counter.SYNACK_SENT));
            assertEquals(FrontendWarmup.SYNS, c.get(Counter.TX_RING));
            assertEquals(0, c.get(Counter.TX_FALLBACK));
        }
    }
}
