package io.synproxy.frontend;

import io.synproxy.config.ProxyConfig;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.testsupport.BpfSource;
import io.synproxy.testsupport.TcpPacket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The capture filter, checked as the kernel checks a classic program (bpf_check_classic) and run by a classic-BPF
 * interpreter (kernel semantics: a load past the end drops the packet) over packets of both families, with and
 * without {@code headersOnly}.
 */
class BpfTest {
    private static final int IPV4 = 0x0800;
    private static final int IPV6 = 0x86dd;
    /** The kernel's limit on a classic program's length. */
    private static final int BPF_MAXINSNS = 4096;
    private static final int SYN = TcpFlyweight.SYN;
    private static final int ACK = TcpFlyweight.ACK;
    private static final int FIN = TcpFlyweight.FIN;
    private static final int RST = TcpFlyweight.RST;
    private static final int PSH = TcpFlyweight.PSH;
    private static final boolean[] BOTH_MODES = {false, true};
    /** sll_pkttype values (linux/if_packet.h). */
    private static final int PACKET_HOST = 0;
    private static final int PACKET_BROADCAST = 1;
    private static final int PACKET_MULTICAST = 2;
    private static final int PACKET_OTHERHOST = 3;

    private static InetSocketAddress at(String host, int port) throws Exception {
        return new InetSocketAddress(InetAddress.getByName(host), port);
    }

    private static List<int[]> program(boolean headersOnly, InetSocketAddress... listens) {
        return program(headersOnly, Segments.ALL, listens);
    }

    private static List<int[]> program(boolean headersOnly, Segments part, InetSocketAddress... listens) {
        List<int[]> p = Bpf.instructions(List.of(listens), headersOnly, part);
        check(p);
        return p;
    }

    private static byte[] v4(String dst, int port) {
        return TcpPacket.between("10.0.0.2", dst).ports(40000, port).seq(1).flags(TcpFlyweight.SYN).window(1000)
                .mss(1460).bytes();
    }

    private static byte[] v6(String dst, int port) {
        return TcpPacket.between("fd00:200::2", dst).ports(40000, port).seq(1).flags(TcpFlyweight.SYN).window(1000)
                .mss(1440).bytes();
    }

    /**
     * A TCP segment to {@code dst:port} with {@code flags}, {@code ipOptionWords} 4-byte words of IPv4 options
     * (NOPs; ignored for IPv6), {@code tcpOptionWords} words of TCP options (NOPs) and {@code payload} bytes.
     */
    private static byte[] segment(String dst, int port, int flags, int ipOptionWords, int tcpOptionWords, int payload) {
        return segment(dst.contains(":") ? "fd00:200::2" : "10.0.0.2", dst, port, flags, ipOptionWords, tcpOptionWords,
                payload);
    }

    private static byte[] segment(String src, String dst, int port, int flags, int ipOptionWords, int tcpOptionWords,
                                  int payload) {
        boolean v6 = dst.contains(":");
        byte[] data = new byte[payload];
        Arrays.fill(data, (byte) 'x');
        return TcpPacket.between(src, dst).ports(40000, port).seq(1000)
                .ack((flags & ACK) != 0 ? 2000 : 0).flags(flags).window(1000).ipv4OptionWords(v6 ? 0 : ipOptionWords)
                .tcpNopWords(tcpOptionWords).payload(data).bytes();
    }

    private static int protocolOf(byte[] p) {
        return (p[0] & 0xf0) == 0x60 ? IPV6 : IPV4;
    }

    /** Prepends an 8-byte extension header of {@code type} (the TCP port then sits 8 bytes later). */
    private static byte[] withExtension(byte[] p, int type) {
        byte[] out = new byte[p.length + 8];
        System.arraycopy(p, 0, out, 0, 40);
        out[40] = p[6];
        System.arraycopy(p, 40, out, 48, p.length - 40);
        out[6] = (byte) type;
        out[5] = (byte) (out[5] + 8);
        return out;
    }

    @Test
    void shouldKeepTheIpv4OnlyFilterAsItWas() throws Exception {
        for (boolean headersOnly : BOTH_MODES) {
            List<int[]> prog = program(headersOnly, at("10.0.0.1", 8080));
            assertTrue(run(prog, v4("10.0.0.1", 8080), IPV4) > 0);
            assertEquals(0, run(prog, v4("10.0.0.1", 8081), IPV4));
            assertEquals(0, run(prog, v4("10.0.0.9", 8080), IPV4));
            byte[] later = v4("10.0.0.1", 8080);
            later[7] = 1; // fragment offset 1: no TCP header here
            assertEquals(0, run(prog, later, IPV4));
            byte[] udp = v4("10.0.0.1", 8080);
            udp[9] = 17;
            assertEquals(0, run(prog, udp, IPV4));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"10.0.0.1", "fd00:100::1"})
    void shouldDropTheSegmentsTheTcProgramTaggedAsTheKernelsButNoSyn(String address) throws Exception {
        InetSocketAddress listen = at(address, 8080);
        int protocol = address.contains(":") ? IPV6 : IPV4;
        byte[] ack = segment(address, 8080, ACK, 0, 0, 0);
        byte[] syn = address.contains(":") ? v6(address, 8080) : v4(address, 8080);
        for (boolean headersOnly : BOTH_MODES) {
            for (Segments part : List.of(Segments.REST, Segments.ALL)) {
                List<int[]> tagged = Bpf.instructions(List.of(listen), headersOnly, part, true);
                check(tagged);
                assertTrue(run(tagged, ack, protocol, PACKET_HOST, 0x1234_5678) > 0, "an untagged ACK: a final ACK");
                assertEquals(0, run(tagged, ack, protocol, PACKET_HOST, Bpf.KERNEL_OWNED_HASH), "a tagged one, " + part);
                List<int[]> before = Bpf.instructions(List.of(listen), headersOnly, part, false);
                assertTrue(run(before, ack, protocol, PACKET_HOST, Bpf.KERNEL_OWNED_HASH) > 0, "without the program");
            }
            List<int[]> syns = Bpf.instructions(List.of(listen), headersOnly, Segments.SYNS, true);
            check(syns);
            assertTrue(run(syns, syn, protocol, PACKET_HOST, Bpf.KERNEL_OWNED_HASH) > 0, "the SYN ring reads no hash");
        }
    }

    /** The hash the tc program tags the kernel's segments with is the one this filter drops. */
    @Test
    void shouldReadTheHashTheTcProgramWrites() throws Exception {
        assertEquals(BpfSource.define("KERNEL_OWNED_HASH"), Bpf.KERNEL_OWNED_HASH);
    }

    @Test
    void shouldDropFramesNotAddressedToThisHostAtLinkLevel() throws Exception {
        InetSocketAddress v4 = at("10.0.0.1", 8080);
        InetSocketAddress v6 = at("fd00::1", 8080);
        for (boolean headersOnly : BOTH_MODES) {
            for (List<int[]> prog : List.of(program(headersOnly, v4), program(headersOnly, v6),
                    program(headersOnly, v4, v6))) {
                for (byte[] p : new byte[][] {v4("10.0.0.1", 8080), v6("fd00::1", 8080)}) {
                    if (run(prog, p, protocolOf(p)) == 0) {
                        continue; // the other family's program
                    }
                    assertEquals(0, run(prog, p, protocolOf(p), PACKET_BROADCAST), "PACKET_BROADCAST");
                    assertEquals(0, run(prog, p, protocolOf(p), PACKET_MULTICAST), "PACKET_MULTICAST");
                    assertEquals(0, run(prog, p, protocolOf(p), PACKET_OTHERHOST), "PACKET_OTHERHOST");
                }
            }
        }
    }

    @Test
    void shouldMatchSpecificAndWildcardIpv6Listens() throws Exception {
        for (boolean headersOnly : BOTH_MODES) {
            List<int[]> specific = program(headersOnly, at("fd00:200::1", 8080));
            assertTrue(run(specific, v6("fd00:200::1", 8080), IPV6) > 0);
            assertEquals(0, run(specific, v6("fd00:200::1", 80), IPV6));
            assertEquals(0, run(specific, v6("fd00:200::2", 8080), IPV6));
            assertEquals(0, run(specific, v6("fd01:200::1", 8080), IPV6));
            List<int[]> any = program(headersOnly, at("::", 8080));
            assertTrue(run(any, v6("2001:db8::77", 8080), IPV6) > 0);
            assertEquals(0, run(any, v6("2001:db8::77", 8081), IPV6));
        }
    }

    @Test
    void shouldPassIpv6ExtensionHeadersToOurAddressForUserSpaceToCount() throws Exception {
        for (boolean headersOnly : BOTH_MODES) {
            List<int[]> specific = program(headersOnly, at("fd00:200::1", 8080));
            for (int type : new int[] {0, 43, 44, 60}) {
                assertTrue(run(specific, withExtension(v6("fd00:200::1", 8080), type), IPV6) > 0, "type " + type);
                assertEquals(0, run(specific, withExtension(v6("fd00:200::9", 8080), type), IPV6), "type " + type);
            }
            byte[] esp = v6("fd00:200::1", 8080);
            esp[6] = 50;
            assertEquals(0, run(specific, esp, IPV6));
            List<int[]> any = program(headersOnly, at("::", 8080));
            assertTrue(run(any, withExtension(v6("fd00:200::1", 8080), 0), IPV6) > 0);
            assertEquals(0, run(any, withExtension(v6("ff02::16", 8080), 0), IPV6), "multicast (MLD reports)");
        }
    }

    @Test
    void shouldTellTheFamiliesApartWhenBothAreProtected() throws Exception {
        for (boolean headersOnly : BOTH_MODES) {
            List<int[]> both = program(headersOnly, at("0.0.0.0", 80), at("::", 443), at("10.0.0.1", 8080),
                at("fd00:200::1", 8443));
            assertTrue(run(both, v4("10.9.9.9", 80), IPV4) > 0);
            assertTrue(run(both, v4("10.0.0.1", 8080), IPV4) > 0);
            assertEquals(0, run(both, v4("10.0.0.2", 8080), IPV4));
            assertEquals(0, run(both, v4("10.0.0.1", 443), IPV4), "443 is protected for IPv6 only");
            assertTrue(run(both, v6("2001:db8::5", 443), IPV6) > 0);
            assertTrue(run(both, v6("fd00:200::1", 8443), IPV6) > 0);
            assertEquals(0, run(both, v6("fd00:200::2", 8443), IPV6));
            assertEquals(0, run(both, v6("2001:db8::5", 80), IPV6), "80 is protected for IPv4 only");
            assertEquals(0, run(both, new byte[] {0, 1, 8, 0, 6, 4, 0, 1}, 0x0806), "ARP");
        }
    }

    @Test
    void shouldDropTruncatedPacketsLikeTheKernel() throws Exception {
        for (boolean headersOnly : BOTH_MODES) {
            List<int[]> both = program(headersOnly, at("0.0.0.0", 80), at("::", 80));
            assertEquals(0, run(both, Arrays.copyOf(v6("fd00::1", 80), 41), IPV6));
            assertEquals(0, run(both, Arrays.copyOf(v4("10.0.0.1", 80), 21), IPV4));
        }
    }

    @Test
    void shouldDropOnlyDataSegmentsThatAreNoSynWithHeadersOnly() throws Exception {
        for (String dst : new String[] {"10.0.0.1", "fd00:200::1"}) {
            InetSocketAddress listen = at(dst, 8080);
            List<int[]> all = program(false, listen);
            List<int[]> headers = program(true, listen);
            Object[][] cases = {
                // name, segment, passed with headersOnly
                {"SYN", segment(dst, 8080, SYN, 0, 5, 0), true},
                {"SYN with data (TFO)", segment(dst, 8080, SYN, 0, 5, 100), true},
                {"SYN/ACK with data", segment(dst, 8080, SYN | ACK, 0, 0, 100), true},
                {"pure ACK", segment(dst, 8080, ACK, 0, 0, 0), true},
                {"ACK, 1 byte (a BSD or Windows window probe)", segment(dst, 8080, ACK, 0, 0, 1), true},
                {"ACK, 2 bytes", segment(dst, 8080, ACK, 0, 0, 2), false},
                {"ACK, 1000 bytes", segment(dst, 8080, ACK | PSH, 0, 0, 1000), false},
                {"ACK, no flags but data", segment(dst, 8080, 0, 0, 0, 10), false},
                {"FIN", segment(dst, 8080, FIN | ACK, 0, 0, 0), true},
                {"FIN with data", segment(dst, 8080, FIN | ACK | PSH, 0, 0, 10), false},
                {"RST", segment(dst, 8080, RST, 0, 0, 0), true},
                {"RST/ACK", segment(dst, 8080, RST | ACK, 0, 0, 0), true},
                {"ACK with timestamps (doff 8)", segment(dst, 8080, ACK, 0, 3, 0), true},
                {"ACK, doff 8, 1 byte (a BSD or Windows window probe)", segment(dst, 8080, ACK, 0, 3, 1), true},
                {"ACK, doff 8, 2 bytes", segment(dst, 8080, ACK, 0, 3, 2), false},
                {"ACK, doff 15", segment(dst, 8080, ACK, 0, 10, 0), true},
                {"ACK, doff 15, 1 byte (a BSD or Windows window probe)", segment(dst, 8080, ACK, 0, 10, 1), true},
                {"ACK, doff 15, 2 bytes", segment(dst, 8080, ACK, 0, 10, 2), false},
                {"IP options (IHL 6), doff 8, ACK", segment(dst, 8080, ACK, 1, 3, 0), true},
                {"IP options (IHL 6), doff 8, ACK, 1 byte (a BSD or Windows window probe)", segment(dst, 8080, ACK, 1, 3, 1), true},
                {"IP options (IHL 6), doff 8, ACK, 2 bytes", segment(dst, 8080, ACK, 1, 3, 2), false},
                {"IP options (IHL 6), doff 8, ACK, 1000 bytes", segment(dst, 8080, ACK, 1, 3, 1000), false},
                {"IP options (IHL 15), ACK", segment(dst, 8080, ACK, 10, 0, 0), true},
                {"IP options (IHL 15), ACK, 1 byte (a BSD or Windows window probe)", segment(dst, 8080, ACK, 10, 0, 1), true},
                {"IP options (IHL 15), ACK, 2 bytes", segment(dst, 8080, ACK, 10, 0, 2), false},
                {"IP options (IHL 6), doff 8, SYN, data", segment(dst, 8080, SYN, 1, 3, 100), true},
            };
            for (Object[] c : cases) {
                byte[] p = (byte[]) c[1];
                String name = dst + " " + c[0];
                assertTrue(run(all, p, protocolOf(p)) > 0, name + ": passed without headersOnly");
                assertEquals((boolean) c[2], run(headers, p, protocolOf(p)) > 0, name + ": with headersOnly");
                byte[] elsewhere = segment(dst, 8081, ACK, 0, 0, 0);
                assertEquals(0, run(headers, elsewhere, protocolOf(elsewhere)), name + ": another port");
            }
        }
    }

    @Test
    void shouldSplitWhatTheWholeFilterPassesIntoTheSynsAndTheRest() throws Exception {
        for (boolean headersOnly : BOTH_MODES) {
            for (String dst : new String[] {"10.0.0.1", "fd00:200::1"}) {
                InetSocketAddress listen = at(dst, 8080);
                List<int[]> all = program(headersOnly, listen);
                List<int[]> syns = program(headersOnly, Segments.SYNS, listen);
                List<int[]> rest = program(headersOnly, Segments.REST, listen);
                List<byte[]> packets = new ArrayList<>();
                for (int flags : new int[] {SYN, SYN | ACK, SYN | RST, SYN | FIN, SYN | PSH, ACK, ACK | PSH, FIN | ACK,
                    RST, RST | ACK, 0}) {
                    for (int payload : new int[] {0, 1, 2, 100}) {
                        packets.add(segment(dst, 8080, flags, 0, 3, payload));
                        packets.add(segment(dst, 8080, flags, 1, 0, payload));
                        packets.add(segment(dst, 8081, flags, 0, 0, payload));
                    }
                }
                int ip = dst.contains(":") ? 40 : 20;
                byte[] syn = segment(dst, 8080, SYN, 0, 0, 0);
                for (int tcp = 4; tcp < 20; tcp++) {
                    packets.add(Arrays.copyOf(syn, ip + tcp));
                }
                if (dst.contains(":")) {
                    packets.add(withExtension(syn, 0));
                    packets.add(withExtension(segment(dst, 8080, ACK, 0, 0, 0), 60));
                }
                for (byte[] p : packets) {
                    int tcpAt = dst.contains(":") ? ip : 4 * (p[0] & 0xf);
                    int flagsAt = tcpAt + 13;
                    boolean extension = dst.contains(":") && p[6] != 6;
                    boolean isSyn = !extension && p.length >= tcpAt + 20 && (p[flagsAt] & 0x17) == SYN;
                    String name = dst + " flags 0x" + Integer.toHexString(p.length > flagsAt ? p[flagsAt] & 0xff : -1)
                            + ", " + p.length + " bytes, headersOnly " + headersOnly + (extension ? ", extension" : "");
                    boolean whole = run(all, p, protocolOf(p)) > 0;
                    assertEquals(whole && isSyn, run(syns, p, protocolOf(p)) > 0, name + ": the SYN ring");
                    assertEquals(whole && !isSyn, run(rest, p, protocolOf(p)) > 0, name + ": the other ring");
                }
            }
        }
    }

    @Test
    void shouldReadTheLengthsFromTheHeadersNotFromTheFrame() throws Exception {
        // Ethernet pads a 40-byte IPv4 ACK to 46 bytes: trailing bytes are no payload. A payload the header claims
        // counts, however short the frame (the kernel's IP layer drops such a packet anyway).
        for (String dst : new String[] {"10.0.0.1", "fd00:200::1"}) {
            List<int[]> headers = program(true, at(dst, 8080));
            byte[] ack = segment(dst, 8080, ACK, 0, 0, 0);
            byte[] padded = Arrays.copyOf(ack, ack.length + 6);
            assertTrue(run(headers, padded, protocolOf(padded)) > 0, dst + " padded ACK");
            byte[] claimed = segment(dst, 8080, ACK, 0, 0, 0);
            claimed[dst.contains(":") ? 5 : 3] += 2;
            assertEquals(0, run(headers, claimed, protocolOf(claimed)), dst + " two bytes more than the frame");
        }
    }

    @Test
    void shouldPassSegmentsTooShortForTheirTcpHeaderForUserSpaceToReject() throws Exception {
        for (String dst : new String[] {"10.0.0.1", "fd00:200::1"}) {
            List<int[]> headers = program(true, at(dst, 8080));
            byte[] whole = segment(dst, 8080, ACK, 0, 0, 100);
            int ip = dst.contains(":") ? 40 : 20;
            for (int tcp = 4; tcp < 20; tcp++) {
                byte[] p = Arrays.copyOf(whole, ip + tcp);
                assertTrue(run(headers, p, protocolOf(p)) > 0, dst + " " + tcp + " bytes of TCP");
            }
            assertEquals(0, run(headers, Arrays.copyOf(whole, ip + 20), protocolOf(whole)), dst + " 20 bytes of TCP");
        }
    }

    @Test
    void shouldKeepIpv6ExtensionHeadersWithDataAsTheyWereWithHeadersOnly() throws Exception {
        List<int[]> headers = program(true, at("fd00:200::1", 8080));
        for (int type : new int[] {0, 43, 44, 60}) {
            byte[] data = withExtension(segment("fd00:200::1", 8080, ACK, 0, 0, 1000), type);
            assertTrue(run(headers, data, IPV6) > 0, "type " + type + ": user space looks at it");
            byte[] other = withExtension(segment("fd00:200::2", 8080, ACK, 0, 0, 1000), type);
            assertEquals(0, run(headers, other, IPV6), "type " + type + ": not our address");
        }
    }

    @Test
    void shouldDropDataSegmentsOfBothFamiliesInOneProgram() throws Exception {
        List<int[]> both = program(true, at("0.0.0.0", 80), at("::", 443), at("10.0.0.1", 8080),
            at("fd00:200::1", 8443));
        for (String[] c : new String[][] {{"10.9.9.9", "80"}, {"10.0.0.1", "8080"}, {"2001:db8::5", "443"},
            {"fd00:200::1", "8443"}}) {
            int port = Integer.parseInt(c[1]);
            byte[] ack = segment(c[0], port, ACK, 0, 3, 0);
            assertTrue(run(both, ack, protocolOf(ack)) > 0, c[0] + " ACK");
            byte[] data = segment(c[0], port, ACK, 0, 3, 500);
            assertEquals(0, run(both, data, protocolOf(data)), c[0] + " data");
            byte[] tfo = segment(c[0], port, SYN, 0, 3, 500);
            assertTrue(run(both, tfo, protocolOf(tfo)) > 0, c[0] + " SYN with data");
        }
        byte[] wrongFamily = segment("10.0.0.1", 443, ACK, 0, 0, 0);
        assertEquals(0, run(both, wrongFamily, IPV4), "443 is protected for IPv6 only");
    }

    @Test
    void shouldPassTheLoRingOnlySegmentsFromThisHost() throws Exception {
        // The proxy's timestamp echo crosses lo to the listen with the remote client as source: LOCAL drops it.
        String[][] cases = {
            {"10.0.0.1", "10.0.0.1", "true"}, {"10.0.0.1", "127.0.0.1", "true"}, {"10.0.0.1", "127.9.8.7", "true"},
            {"10.0.0.1", "10.0.0.2", "false"}, {"10.0.0.1", "128.0.0.1", "false"},
            {"fd00:200::1", "fd00:200::1", "true"}, {"fd00:200::1", "::1", "true"},
            {"fd00:200::1", "fd00:200::2", "false"}, {"fd00:200::1", "::2", "false"},
            {"fd00:200::1", "fd00:200::1:0", "false"},
        };
        for (boolean headersOnly : BOTH_MODES) {
            for (String[] c : cases) {
                InetSocketAddress listen = at(c[0], 8080);
                List<int[]> local = program(headersOnly, Segments.LOCAL, listen, at("0.0.0.0", 81), at("::", 82));
                List<int[]> all = program(headersOnly, Segments.ALL, listen, at("0.0.0.0", 81), at("::", 82));
                for (int flags : new int[] {SYN, ACK, ACK | FIN, RST}) {
                    byte[] p = segment(c[1], c[0], 8080, flags, 0, 0, 0);
                    String what = c[1] + " to " + c[0] + ", flags " + flags + ", headersOnly " + headersOnly;
                    assertEquals(Boolean.parseBoolean(c[2]), run(local, p, protocolOf(p)) > 0, what);
                    assertTrue(run(all, p, protocolOf(p)) > 0, "the other rings take any source: " + what);
                }
                byte[] wildcard = segment(c[1], c[0], c[0].contains(":") ? 82 : 81, SYN, 0, 0, 0);
                assertEquals(Boolean.parseBoolean(c[2]), run(local, wildcard, protocolOf(wildcard)) > 0,
                        c[1] + " to a wildcard listen");
            }
        }
    }

    @Test
    void shouldFitTheKernelForEveryMixOfTheMostListensInBothModes() throws Exception {
        // Without headersOnly, 14 or more specific IPv6 listens once made a jump longer than 255: no start.
        for (boolean headersOnly : BOTH_MODES) {
        for (int v6 = 0; v6 <= ProxyConfig.MAX_LISTENS; v6++) {
            List<InetSocketAddress> listens = new ArrayList<>();
            for (int i = 0; i < ProxyConfig.MAX_LISTENS - v6; i++) {
                listens.add(at("10.0.0." + (i + 1), 8080));
            }
            for (int i = 0; i < v6; i++) {
                listens.add(at("fd00:200::" + Integer.toHexString(i + 1), 8080));
            }
            for (Segments part : Segments.values()) {
            List<int[]> p = Bpf.instructions(listens, headersOnly, part); // throws on a jump beyond 255 or too many
            check(p);
            String mix = (ProxyConfig.MAX_LISTENS - v6) + " IPv4 + " + v6 + " IPv6, headersOnly " + headersOnly
                    + ", " + part;
            for (InetSocketAddress l : List.of(listens.getFirst(), listens.getLast())) {
                String dst = l.getAddress().getHostAddress();
                // The lo ring's program passes a local source only: the listen's own address, as a local client's.
                String src = part == Segments.LOCAL ? dst : dst.contains(":") ? "fd00:200::ff" : "10.0.0.200";
                byte[] ack = segment(src, dst, 8080, ACK, 0, 0, 0);
                assertEquals(part != Segments.SYNS, run(p, ack, protocolOf(ack)) > 0, mix + ": ACK to " + dst);
                byte[] data = segment(src, dst, 8080, ACK, 0, 0, 10);
                assertEquals(!headersOnly && part != Segments.SYNS, run(p, data, protocolOf(data)) > 0,
                        mix + ": data to " + dst);
                byte[] syn = segment(src, dst, 8080, SYN, 0, 0, 0);
                assertEquals(part != Segments.REST, run(p, syn, protocolOf(syn)) > 0, mix + ": SYN to " + dst);
                byte[] elsewhere = segment(src, dst, 8081, SYN, 0, 0, 0);
                assertEquals(0, run(p, elsewhere, protocolOf(elsewhere)), mix + ": SYN to port 8081 of " + dst);
            }
            }
        }
        }
    }

    /** bpf_check_classic: what the kernel refuses at SO_ATTACH_FILTER. */
    static void check(List<int[]> program) {
        int n = program.size();
        assertTrue(n > 0 && n <= BPF_MAXINSNS, "length " + n);
        for (int pc = 0; pc < n; pc++) {
            int[] insn = program.get(pc);
            int code = insn[0];
            int jt = insn[1];
            int jf = insn[2];
            int k = insn[3];
            assertTrue(jt >= 0 && jt <= 255 && jf >= 0 && jf <= 255, "offsets of " + pc);
            switch (code) {
                case 0x00, 0x01, 0x80, 0x81, 0xb1, 0x07, 0x87, 0x06, 0x16 -> {
                }
                case 0x20, 0x28, 0x30 -> assertTrue(k >= 0 || k == -0x1000 || k == -0x1000 + 4
                        || code == 0x20 && k == -0x1000 + 32, "load at " + pc);
                case 0x40, 0x48, 0x50 -> {
                }
                case 0x60, 0x61, 0x02, 0x03 -> assertTrue(k >= 0 && k < 16, "memory slot at " + pc);
                case 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c,
                     0x84, 0x94, 0x9c, 0xa4, 0xac -> {
                    if (code == 0x34 || code == 0x94) {
                        assertTrue(k != 0, "division by zero at " + pc);
                    }
                    if (code == 0x64 || code == 0x74) {
                        assertTrue(k >= 0 && k < 32, "shift at " + pc);
                    }
                }
                case 0x05 -> assertTrue(k >= 0 && k < n - pc - 1, "ja at " + pc);
                case 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d ->
                    assertTrue(pc + jt + 1 < n && pc + jf + 1 < n, "jump out of the program at " + pc);
                default -> fail("opcode 0x" + Integer.toHexString(code) + " at " + pc);
            }
        }
        int last = program.get(n - 1)[0];
        assertTrue(last == 0x06 || last == 0x16, "the last instruction returns");
        // check_load_and_stores: no path reads a memory slot before writing it.
        int[] masks = new int[n];
        Arrays.fill(masks, -1);
        int valid = 0;
        for (int pc = 0; pc < n; pc++) {
            int[] insn = program.get(pc);
            valid &= masks[pc];
            switch (insn[0]) {
                case 0x02, 0x03 -> valid |= 1 << insn[3];
                case 0x60, 0x61 -> assertTrue((valid & 1 << insn[3]) != 0, "M[" + insn[3] + "] unset at " + pc);
                case 0x05 -> {
                    masks[pc + 1 + insn[3]] &= valid;
                    valid = -1;
                }
                case 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d -> {
                    masks[pc + 1 + insn[1]] &= valid;
                    masks[pc + 1 + insn[2]] &= valid;
                    valid = -1;
                }
                default -> {
                }
            }
        }
    }

    /**
     * Classic BPF as the kernel runs it over a SOCK_DGRAM capture (offsets from the IP header): every opcode
     * bpf_check_classic allows, unsigned 32-bit arithmetic and comparisons, a load past either end or a division by
     * a zero X ends the program with 0. Of the ancillary loads the frame's protocol and its packet type. Returns the accepted
     * length (0: drop).
     */
    static int run(List<int[]> program, byte[] p, int protocol) {
        return run(program, p, protocol, PACKET_HOST);
    }

    /** {@link #run(List, byte[], int)} for a frame of the given link-level packet type (sll_pkttype). */
    static int run(List<int[]> program, byte[] p, int protocol, int packetType) {
        return run(program, p, protocol, packetType, 0);
    }

    /** {@link #run(List, byte[], int, int)} for a socket buffer whose flow hash is {@code hash}. */
    static int run(List<int[]> program, byte[] p, int protocol, int packetType, int hash) {
        int a = 0;
        int x = 0;
        int[] mem = new int[16];
        int pc = 0;
        ByteBuffer b = ByteBuffer.wrap(p);
        while (true) {
            int[] insn = program.get(pc++);
            int code = insn[0];
            int k = insn[3];
            switch (code & 0x07) {
                case 0x00, 0x01 -> { // LD, LDX
                    boolean toX = (code & 0x07) == 0x01;
                    int size = switch (code & 0x18) {
                        case 0x00 -> 4;
                        case 0x08 -> 2;
                        case 0x10 -> 1;
                        default -> throw new AssertionError("size of 0x" + Integer.toHexString(code));
                    };
                    long at;
                    int v;
                    switch (code & 0xe0) {
                        case 0x00 -> v = k; // IMM
                        case 0x80 -> v = p.length; // LEN
                        case 0x60 -> v = mem[k]; // MEM
                        case 0x20, 0x40 -> { // ABS, IND
                            if (code == 0x20 && k == -0x1000) {
                                v = protocol;
                                break;
                            }
                            if (code == 0x20 && k == -0x1000 + 4) {
                                v = packetType;
                                break;
                            }
                            if (code == 0x20 && k == -0x1000 + 32) {
                                v = hash;
                                break;
                            }
                            if (k < 0) {
                                throw new AssertionError("ancillary or negative load " + k + " at " + (pc - 1));
                            }
                            at = (code & 0xe0) == 0x40 ? (x & 0xFFFFFFFFL) + k : k;
                            if (at + size > p.length) {
                                return 0;
                            }
                            v = size == 4 ? b.getInt((int) at) : size == 2 ? b.getShort((int) at) & 0xFFFF
                                : p[(int) at] & 0xFF;
                        }
                        case 0xa0 -> { // MSH: ldxb 4*([k]&0xf)
                            if (k < 0 || k + 1 > p.length) {
                                return 0;
                            }
                            v = (p[k] & 0x0F) << 2;
                        }
                        default -> throw new AssertionError("mode of 0x" + Integer.toHexString(code));
                    }
                    if (toX) {
                        x = v;
                    } else {
                        a = v;
                    }
                }
                case 0x02 -> mem[k] = a;
                case 0x03 -> mem[k] = x;
                case 0x04 -> { // ALU
                    int operand = (code & 0x08) != 0 ? x : k;
                    switch (code & 0xf0) {
                        case 0x00 -> a += operand;
                        case 0x10 -> a -= operand;
                        case 0x20 -> a *= operand;
                        case 0x30 -> {
                            if (operand == 0) {
                                return 0;
                            }
                            a = Integer.divideUnsigned(a, operand);
                        }
                        case 0x90 -> {
                            if (operand == 0) {
                                return 0;
                            }
                            a = Integer.remainderUnsigned(a, operand);
                        }
                        case 0x40 -> a |= operand;
                        case 0x50 -> a &= operand;
                        case 0xa0 -> a ^= operand;
                        case 0x60 -> a = operand >= 32 || operand < 0 ? 0 : a << operand;
                        case 0x70 -> a = operand >= 32 || operand < 0 ? 0 : a >>> operand;
                        case 0x80 -> a = -a;
                        default -> throw new AssertionError("ALU 0x" + Integer.toHexString(code));
                    }
                }
                case 0x05 -> { // JMP
                    int operand = (code & 0x08) != 0 ? x : k;
                    boolean taken = switch (code & 0xf0) {
                        case 0x00 -> {
                            pc += k;
                            yield false;
                        }
                        case 0x10 -> a == operand;
                        case 0x20 -> Integer.compareUnsigned(a, operand) > 0;
                        case 0x30 -> Integer.compareUnsigned(a, operand) >= 0;
                        case 0x40 -> (a & operand) != 0;
                        default -> throw new AssertionError("JMP 0x" + Integer.toHexString(code));
                    };
                    if ((code & 0xf0) != 0x00) {
                        pc += taken ? insn[1] : insn[2];
                    }
                }
                case 0x06 -> { // RET
                    return switch (code & 0x18) {
                        case 0x00 -> k;
                        case 0x10 -> a;
                        default -> throw new AssertionError("RET 0x" + Integer.toHexString(code));
                    };
                }
                case 0x07 -> { // MISC
                    if ((code & 0xf8) == 0x00) {
                        x = a;
                    } else if ((code & 0xf8) == 0x80) {
                        a = x;
                    } else {
                        throw new AssertionError("MISC 0x" + Integer.toHexString(code));
                    }
                }
                default -> throw new AssertionError("opcode 0x" + Integer.toHexString(code));
            }
        }
    }
}
