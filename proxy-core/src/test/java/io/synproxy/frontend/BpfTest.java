package io.synproxy.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.synproxy.packet.Ipv4TcpWriter;
import io.synproxy.packet.Ipv6TcpWriter;
import io.synproxy.packet.TcpFlyweight;

import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The capture filter, run by a small classic-BPF interpreter (the opcodes the filter uses, kernel semantics: a load
 * past the end drops the packet) over packets of both families.
 */
class BpfTest {
    private static final int IPV4 = 0x0800;
    private static final int IPV6 = 0x86dd;

    private static InetSocketAddress at(String host, int port) throws Exception {
        return new InetSocketAddress(InetAddress.getByName(host), port);
    }

    private static byte[] v4(String dst, int port) throws Exception {
        byte[] b = new byte[Ipv4TcpWriter.MAX_LENGTH];
        int len = new Ipv4TcpWriter().write(MemorySegment.ofArray(b), 0, 0x0a000002,
            ByteBuffer.wrap(InetAddress.getByName(dst).getAddress()).getInt(), 40000, port, 1, 0, TcpFlyweight.SYN,
            1000, 1460, -1, false, false, 0, 0);
        return Arrays.copyOf(b, len);
    }

    private static byte[] v6(String dst, int port) throws Exception {
        ByteBuffer d = ByteBuffer.wrap(InetAddress.getByName(dst).getAddress());
        byte[] b = new byte[Ipv6TcpWriter.MAX_LENGTH];
        int len = new Ipv6TcpWriter().write(MemorySegment.ofArray(b), 0, 0xfd00_0200_0000_0000L, 2, d.getLong(),
            d.getLong(), 40000, port, 1, 0, TcpFlyweight.SYN, 1000, 1440, -1, false, false, 0, 0);
        return Arrays.copyOf(b, len);
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
        List<int[]> prog = Bpf.instructions(List.of(at("10.0.0.1", 8080)));
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

    @Test
    void shouldMatchSpecificAndWildcardIpv6Listens() throws Exception {
        List<int[]> specific = Bpf.instructions(List.of(at("fd00:200::1", 8080)));
        assertTrue(run(specific, v6("fd00:200::1", 8080), IPV6) > 0);
        assertEquals(0, run(specific, v6("fd00:200::1", 80), IPV6));
        assertEquals(0, run(specific, v6("fd00:200::2", 8080), IPV6));
        assertEquals(0, run(specific, v6("fd01:200::1", 8080), IPV6));
        List<int[]> any = Bpf.instructions(List.of(at("::", 8080)));
        assertTrue(run(any, v6("2001:db8::77", 8080), IPV6) > 0);
        assertEquals(0, run(any, v6("2001:db8::77", 8081), IPV6));
    }

    @Test
    void shouldPassIpv6ExtensionHeadersToOurAddressForUserSpaceToCount() throws Exception {
        List<int[]> specific = Bpf.instructions(List.of(at("fd00:200::1", 8080)));
        for (int type : new int[] {0, 43, 44, 60}) {
            assertTrue(run(specific, withExtension(v6("fd00:200::1", 8080), type), IPV6) > 0, "type " + type);
            assertEquals(0, run(specific, withExtension(v6("fd00:200::9", 8080), type), IPV6), "type " + type);
        }
        byte[] esp = v6("fd00:200::1", 8080);
        esp[6] = 50;
        assertEquals(0, run(specific, esp, IPV6));
        List<int[]> any = Bpf.instructions(List.of(at("::", 8080)));
        assertTrue(run(any, withExtension(v6("fd00:200::1", 8080), 0), IPV6) > 0);
        assertEquals(0, run(any, withExtension(v6("ff02::16", 8080), 0), IPV6), "multicast (MLD reports)");
    }

    @Test
    void shouldTellTheFamiliesApartWhenBothAreProtected() throws Exception {
        List<int[]> both = Bpf.instructions(List.of(at("0.0.0.0", 80), at("::", 443), at("10.0.0.1", 8080),
            at("fd00:200::1", 8443)));
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

    @Test
    void shouldDropTruncatedPacketsLikeTheKernel() throws Exception {
        List<int[]> both = Bpf.instructions(List.of(at("0.0.0.0", 80), at("::", 80)));
        assertEquals(0, run(both, Arrays.copyOf(v6("fd00::1", 80), 41), IPV6));
        assertEquals(0, run(both, Arrays.copyOf(v4("10.0.0.1", 80), 21), IPV4));
    }

    /** Classic BPF, the subset the filter uses. Returns the accepted length (0: drop). */
    static int run(List<int[]> program, byte[] p, int protocol) {
        int a = 0;
        int x = 0;
        int[] mem = new int[16];
        int pc = 0;
        ByteBuffer b = ByteBuffer.wrap(p);
        while (true) {
            int[] insn = program.get(pc++);
            int k = insn[3];
            switch (insn[0]) {
                case 0x20 -> {
                    if (k == -0x1000) {
                        a = protocol;
                    } else if (k + 4 > p.length) {
                        return 0;
                    } else {
                        a = b.getInt(k);
                    }
                }
                case 0x28 -> {
                    if (k + 2 > p.length) {
                        return 0;
                    }
                    a = b.getShort(k) & 0xFFFF;
                }
                case 0x30 -> {
                    if (k + 1 > p.length) {
                        return 0;
                    }
                    a = p[k] & 0xFF;
                }
                case 0x48 -> {
                    if (x + k + 2 > p.length) {
                        return 0;
                    }
                    a = b.getShort(x + k) & 0xFFFF;
                }
                case 0xb1 -> {
                    if (k + 1 > p.length) {
                        return 0;
                    }
                    x = (p[k] & 0x0F) << 2;
                }
                case 0x60 -> a = mem[k];
                case 0x02 -> mem[k] = a;
                case 0x15 -> pc += a == k ? insn[1] : insn[2];
                case 0x45 -> pc += (a & k) != 0 ? insn[1] : insn[2];
                case 0x06 -> {
                    return k;
                }
                default -> throw new AssertionError("opcode " + insn[0]);
            }
        }
    }
}
