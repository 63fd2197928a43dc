package io.synproxy.fuzz;

import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import io.synproxy.frontend.Admission;
import io.synproxy.frontend.GateSettings;
import io.synproxy.frontend.PacketRing;
import io.synproxy.frontend.Replies;
import io.synproxy.frontend.SegmentGate;
import io.synproxy.handoff.Handoff;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.metrics.Counter;
import io.synproxy.metrics.Counters;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegmentWriter;
import io.synproxy.testsupport.TcpPacket;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static io.synproxy.packet.TcpSegment.mapped;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Seeded random packets through the front end's {@link SegmentGate} (parse; count a rejection by reason;
 * answer a SYN; verify an ACK): no exception escapes, and every rejection is counted under the reason an
 * independent oracle expects for the damage done to the packet.
 */
class RandomPacketTest {
    private static final Set<Reject> IPV6_ONLY = EnumSet.of(
            Reject.NOT_IPV6, Reject.BAD_IPV6_LENGTH, Reject.BAD_IPV6_EXTENSION, Reject.NOT_OUR_PORT);

    private static final long SEED = 0x5eed_2026L;
    private static final int PACKETS = 300_000;

    private final Counters counters = new Counters();
    private final Handshake handshake = new Handshake(new SynCookie(new KeyRing(
            "random packet test secret bytes!".getBytes(StandardCharsets.US_ASCII), 60_000, () -> 1_000_000L)),
            1460, 7, true);
    private final MemorySegment out = MemorySegment.ofArray(new byte[128]);
    private final SegmentGate gate = new SegmentGate(new GateSettings(true, false, new int[0], 1000, 0), handshake,
            new Handoff() {
                @Override
                public int handoff(AckVerdict verdict, MemorySegment packet) {
                    return 1; // a random ACK that happens to carry a valid cookie: no socket needed here
                }

                @Override
                public int lastReceiveWindow() {
                    return 0;
                }
            },
            new Replies() {
                @Override
                public MemorySegment buffer() {
                    return out;
                }

                @Override
                public boolean send(int length, long hi, long lo) {
                    return true;
                }
            }, (fd, verdict, onClose) -> { }, Admission.ALL, counters, () -> 2L);

    @Test
    void shouldCountEveryRejectionUnderItsReasonAndNeverThrow() {
        Random r = new Random(SEED);
        Map<Reject, Long> expected = new EnumMap<>(Reject.class);
        long rejected = 0;
        long garbage = 0;
        for (int n = 0; n < PACKETS; n++) {
            byte[] p = base(r);
            int kind = r.nextInt(13);
            int captured = p.length;
            boolean verify = false;
            Reject want;
            switch (kind) {
                case 0 -> {
                    captured = 1 + r.nextInt(19);
                    want = Reject.TRUNCATED_IP;
                }
                case 1 -> {
                    p[0] = (byte) (r.nextBoolean() ? 0x65 : 0x05);
                    want = Reject.NOT_IPV4;
                }
                case 2 -> {
                    p[0] = (byte) (0x40 | r.nextInt(5));
                    want = Reject.BAD_IHL;
                }
                case 3 -> {
                    put16(p, 2, p.length + 1 + r.nextInt(100));
                    want = Reject.BAD_IP_LENGTH;
                }
                case 4 -> {
                    p[6] |= (byte) (r.nextBoolean() ? 0x20 : 0x01);
                    want = Reject.IP_FRAGMENT;
                }
                case 5 -> {
                    p[12 + r.nextInt(8)] ^= (byte) (1 << r.nextInt(8));
                    want = Reject.BAD_IP_CHECKSUM;
                }
                case 6 -> {
                    p[9] = (byte) (r.nextBoolean() ? 17 : 1);
                    TcpPacket.fixChecksums(p, 0);
                    want = Reject.NOT_TCP;
                }
                case 7 -> {
                    put16(p, 2, 20 + r.nextInt(20));
                    TcpPacket.fixChecksums(p, 0);
                    want = Reject.TRUNCATED_TCP;
                }
                case 8 -> {
                    p[32] = (byte) ((r.nextBoolean() ? r.nextInt(5) : 15) << 4 | (p[32] & 0x0f));
                    want = Reject.BAD_DATA_OFFSET;
                }
                case 9 -> {
                    p[24 + r.nextInt(8)] ^= (byte) (1 << r.nextInt(8));
                    verify = true;
                    want = Reject.BAD_TCP_CHECKSUM;
                }
                case 10 -> {
                    if (p.length == 40) {
                        want = Reject.NONE; // no options to break
                    } else {
                        p[41] = (byte) (r.nextBoolean() ? 0 : 1); // MSS option length 0 or 1
                        want = Reject.BAD_TCP_OPTION;
                    }
                }
                case 11 -> {
                    verify = r.nextBoolean();
                    want = Reject.NONE;
                }
                default -> {
                    // Garbage: random bytes of random length, or random damage; only the invariants hold.
                    garbage++;
                    if (r.nextBoolean()) {
                        p = new byte[r.nextInt(80)];
                        r.nextBytes(p);
                    } else {
                        for (int k = r.nextInt(6); k >= 0; k--) {
                            p[r.nextInt(p.length)] = (byte) r.nextInt();
                        }
                    }
                    captured = p.length == 0 ? 0 : r.nextInt(p.length + 1);
                    verify = r.nextBoolean();
                    want = null;
                }
            }
            Reject got = onFrame(p, captured, verify);
            if (want != null) {
                assertEquals(want, got, "packet " + n + " kind " + kind);
                if (want != Reject.NONE) {
                    expected.merge(want, 1L, Long::sum);
                }
            } else if (got != Reject.NONE) {
                expected.merge(got, 1L, Long::sum);
            }
            if (got != Reject.NONE) {
                rejected++;
            }
        }
        long sum = 0;
        for (Reject reason : Reject.values()) {
            if (reason != Reject.NONE) {
                assertEquals(expected.getOrDefault(reason, 0L), counters.get(reason), "rejected_" + reason.label());
                sum += counters.get(reason);
            }
        }
        assertEquals(rejected, counters.get(Counter.PACKETS_REJECTED), "every rejection counted once");
        assertEquals(rejected, sum, "the per-reason counters add up to the total");
        for (Reject reason : Reject.values()) {
            // These packets are IPv4; the IPv6-only reasons are exercised by TcpSegmentIpv6Test and Ipv6HostileInputIT.
            if (reason != Reject.NONE && !IPV6_ONLY.contains(reason)) {
                assertTrue(counters.get(reason) > 0, "reason exercised: " + reason);
            }
        }
        assertTrue(counters.get(Counter.SYNACK_SENT) > 0 && counters.get(Counter.ACK_INVALID) > 0);
        System.out.printf("RandomPacketTest: %d packets (%d garbage), %d rejected by reason %s; %d SYN/ACKs, %d invalid ACKs%n",
                PACKETS, garbage, rejected, expected, counters.get(Counter.SYNACK_SENT), counters.get(Counter.ACK_INVALID));
    }

    /** The front end's own gate, minus the sockets: replies go to a buffer, a handoff to nowhere. */
    private Reject onFrame(byte[] p, int captured, boolean verify) {
        int status = verify ? 0 : PacketRing.TP_STATUS_CSUM_VALID;
        return gate.onPacket(MemorySegment.ofArray(p), 0, captured, status, 2);
    }

    /** A valid SYN with options (60 bytes) or a bare ACK (40 bytes), random addresses, ports and numbers. */
    private static byte[] base(Random r) {
        MemorySegment buf = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH_IPV4]);
        boolean syn = r.nextBoolean();
        int len = new TcpSegmentWriter().from(0, mapped(r.nextInt()), r.nextInt(65536)).to(0, mapped(r.nextInt()), 8080)
                .seq(r.nextInt()).ack(syn ? 0 : r.nextInt()).flags(syn ? TcpFlyweight.SYN : TcpFlyweight.ACK)
                .window(r.nextInt(65536)).mss(syn ? 1460 : -1).wscale(syn ? 7 : -1).sackPermitted(syn)
                .timestamps(syn, syn ? r.nextInt() : 0, 0).write(buf, 0);
        byte[] p = new byte[len];
        MemorySegment.copy(buf, 0, MemorySegment.ofArray(p), 0, len);
        return p;
    }

    private static void put16(byte[] p, int i, int v) {
        p[i] = (byte) (v >>> 8);
        p[i + 1] = (byte) v;
    }
}
