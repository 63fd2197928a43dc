package io.synproxy.xdp;

import io.synproxy.cookie.CookieSecrets;
import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.MasterKey;
import io.synproxy.cookie.SecretSource;
import io.synproxy.cookie.SynCookie;
import io.synproxy.handshake.AckVerdict;
import io.synproxy.handshake.Handshake;
import io.synproxy.packet.Reject;
import io.synproxy.packet.TcpFlyweight;
import io.synproxy.packet.TcpSegment;
import io.synproxy.packet.TcpSegmentWriter;
import io.synproxy.policy.PrefixSet;
import io.synproxy.testsupport.TcpPacket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The BPF program, both its XDP and its tc entry, run by the kernel on packets the test builds (BPF_PROG_TEST_RUN: no
 * interface, no traffic), its SYN/ACK compared byte for byte with the one the Java front end writes for the same SYN under the same key. Root
 * only (loading a program needs CAP_BPF); skipped where the build had no clang, except under CI.
 */
@EnabledIf("rootWithProgram")
class XdpFastPathTest {
    /** NftGuard.KERNEL_SYN_PRIORITY, 5359:4e51: a SYN the guard lets through to the listener. */
    private static final int KERNEL_SYN_PRIORITY = 0x53594e51;
    private static final int LOCAL = 0x0A4D_0002; // 10.77.0.2
    /** 2001:db8::2, as TcpSegment's two halves. */
    private static final long LOCAL6_HI = 0x2001_0db8_0000_0000L;
    private static final long LOCAL6_LO = 2;
    private static final int PORT = 80;
    private static final int OUR_MSS = 1460;
    private static final int OUR_WSCALE = 7;
    private static final byte[] SECRET = "xdp fast path test secret bytes!".getBytes(StandardCharsets.US_ASCII);
    private static final long NOW = 7_000_000L;
    private static final byte[] SERVER_MAC = {2, 0, 0, 0, 0, 2};
    private static final byte[] CLIENT_MAC = {2, 0, 0, 0, 0, 1};
    private static final ValueLayout.OfLong NET_LONG = JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt NET_INT = JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static XdpFastPath xdp;

    private final Handshake handshake = new Handshake(new SynCookie(new KeyRing(SECRET, 60_000, () -> NOW)),
            OUR_MSS, OUR_MSS - 20, OUR_WSCALE, true);
    private final TcpSegmentWriter writer = new TcpSegmentWriter();
    private final TcpSegment parsed = new TcpSegment();

    static boolean rootWithProgram() {
        return "root".equals(System.getProperty("user.name"))
                && (System.getenv("CI") != null || XdpFastPath.class.getResource(XdpFastPath.RESOURCE) != null);
    }

    @BeforeAll
    static void load() throws XdpException {
        xdp = XdpFastPath.load(List.of(new InetSocketAddress("10.77.0.2", PORT), new InetSocketAddress("2001:db8::2", PORT)),
                SERVER_MAC, new KeyRing(SECRET, 60_000, () -> NOW), OUR_MSS, OUR_MSS - 20, OUR_WSCALE, 0, 0);
    }

    /** The kernel's handoff's build for one IPv4 and one IPv6 listen, answering (its pass switch off). */
    private static XdpFastPath dualStackKernelBuild() throws XdpException {
        XdpFastPath kernel = XdpFastPath.load(List.of(new InetSocketAddress("10.77.0.2", PORT),
                new InetSocketAddress("2001:db8::2", PORT)), SERVER_MAC, new KeyRing(SECRET, 60_000, () -> NOW), OUR_MSS,
                OUR_MSS - 20, OUR_WSCALE, 65535, 0, true);
        kernel.refresh(false);
        return kernel;
    }

    @AfterAll
    static void close() {
        if (xdp != null) {
            xdp.close();
        }
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldAnswerEverySynAsTheJavaFrontEndWould(SynPath path) {
        Random random = new Random(42);
        int[] mss = {-1, 48, 300, 536, 1300, 1440, 1460, 9000};
        int[] wscale = {-1, 0, 7, 14, 15};
        long sent = xdp.counter(XdpFastPath.SYNACK);
        int cases = 0;
        for (int m : mss) {
            for (int w : wscale) {
                for (int flags = 0; flags < 4; flags++) {
                    int client = 0x0B00_0000 | random.nextInt(1 << 24);
                    int port = 1024 + random.nextInt(60000);
                    int isn = random.nextInt();
                    int tsVal = random.nextInt();
                    boolean sack = (flags & 1) != 0;
                    boolean ts = (flags & 2) != 0;
                    byte[] syn = syn(client, port, LOCAL, PORT, isn, m, w, sack, ts, tsVal);
                    String what = "mss " + m + ", wscale " + w + ", sack " + sack + ", timestamps " + ts;
                    byte[] ours = assertAnsweredAsJavaWould(path, frame(syn), syn, ts, what);
                    assertFinalAckVerifies(ours, client, port);
                    cases++;
                }
            }
        }
        assertEquals(sent + cases, xdp.counter(XdpFastPath.SYNACK));
    }

    /**
     * {@code --handoff kernel}'s build of the program (KERNEL_HANDOFF): the kernel resolves its kfunc and the verifier
     * takes it; it answers a SYN with the window it is given (the kernel's socket needs no zero window), and a final
     * ACK that verifies, with no listener of the proxy's to hand it to, goes on to the kernel.
     */
    @Test
    void shouldLoadTheKernelHandoffsBuildAndOpenTheWindow() throws XdpException {
        try (XdpFastPath kernel = XdpFastPath.load(List.of(new InetSocketAddress("10.77.0.2", PORT)), SERVER_MAC,
                new KeyRing(SECRET, 60_000, () -> NOW), OUR_MSS, OUR_MSS - 20, OUR_WSCALE, 65535, 0, true)) {
            kernel.refresh(false);
            byte[] syn = syn(0x0B01_0203, 40000, LOCAL, PORT, 1000, 1460, 7, true, true, 5);
            XdpFastPath.TestResult r = kernel.testRun(SynPath.TC, frame(syn));
            assertEquals(XdpFastPath.TestResult.TX, r.verdict());
            int window = (r.frame()[14 + 20 + 14] & 0xff) << 8 | r.frame()[14 + 20 + 15] & 0xff;
            assertEquals(65535, window);
            assertEquals(1, kernel.counter(XdpFastPath.SYNACK));
        }
    }

    /**
     * Only the kernel's handoff's build has the SO_REUSEPORT program that packs connections onto loops (the repair
     * handoff's connections are the rings' loops'); its map takes 16 listens of 64 loops. KernelHandoffIT shows it
     * picking the loops.
     */
    @Test
    void shouldPickLoopsOnlyInTheKernelHandoffsBuild() throws XdpException {
        assertFalse(xdp.packs());
        try (XdpFastPath kernel = dualStackKernelBuild()) {
            assertTrue(kernel.packs());
            assertThrows(IllegalArgumentException.class, () -> kernel.loopListener(XdpFastPath.PACK_LISTENS, 0, 0));
            assertThrows(IllegalArgumentException.class, () -> kernel.loopListener(0, XdpFastPath.PACK_LOOPS, 0));
            // Not a socket at all: the kernel refuses it, said in one sentence.
            XdpException e = assertThrows(XdpException.class, () -> kernel.loopListener(0, 0, 0));
            assertTrue(e.getMessage().startsWith("cannot give the BPF program loop 0's listener: "), e.getMessage());
        }
    }

    /**
     * The kernel's handoff holds the deny and allow lists in the program: a listed source's SYN is dropped unanswered
     * (SourceAccess.permits: deny wins, and with an allow list only its sources), and a reload puts new lists in
     * force whole, the old entries gone.
     */
    @Test
    void shouldDropTheSynsOfListedSourcesWithTheKernelsHandoff() throws Exception {
        try (XdpFastPath kernel = dualStackKernelBuild()) {
            int a = 0x0B01_0203; // 11.1.2.3
            int b = 0x0C01_0203; // 12.1.2.3
            int c = 0x0D01_0203; // 13.1.2.3
            long denied6 = 0x2001_0db8_0001_0005L;
            long other6 = 0x2001_0db8_0002_0005L;
            kernel.lists(PrefixSet.of(List.of("11.0.0.0/8", "2001:db8:1::/48")), null);
            assertEquals(XdpFastPath.TestResult.DROP, synVerdict(kernel, a), "denied");
            assertEquals(XdpFastPath.TestResult.TX, synVerdict(kernel, b), "not denied");
            assertEquals(XdpFastPath.TestResult.DROP, syn6Verdict(kernel, denied6), "denied, IPv6");
            assertEquals(XdpFastPath.TestResult.TX, syn6Verdict(kernel, other6), "not denied, IPv6");
            assertEquals(2, kernel.counter(XdpFastPath.SYN_DENIED));

            kernel.lists(PrefixSet.of(List.of("12.1.2.3")),
                    PrefixSet.of(List.of("12.0.0.0/8", "13.0.0.0/8")));
            assertEquals(XdpFastPath.TestResult.DROP, synVerdict(kernel, a), "not allowed");
            assertEquals(XdpFastPath.TestResult.DROP, synVerdict(kernel, b), "allowed, but denied: deny wins");
            assertEquals(XdpFastPath.TestResult.TX, synVerdict(kernel, c), "allowed");
            assertEquals(XdpFastPath.TestResult.DROP, syn6Verdict(kernel, other6), "not allowed, IPv6");

            kernel.lists(PrefixSet.EMPTY, null);
            for (int source : new int[] {a, b, c}) {
                assertEquals(XdpFastPath.TestResult.TX, synVerdict(kernel, source), "no list: answered");
            }
            assertEquals(XdpFastPath.TestResult.TX, syn6Verdict(kernel, denied6), "no list: answered, IPv6");
            assertEquals(5, kernel.counter(XdpFastPath.SYN_DENIED));
        }
    }

    /**
     * With the kernel's handoff nothing captures: a SYN the program does not answer (IP options, IPv6 extension
     * headers, a checksum to check, an MSS below what bpf_sk_assign_tcp_reqsk builds a socket with) goes on with the
     * priority the guard lets through to the listener, which makes an ordinary handshake. Not while the pass switch is
     * on (start-up), nor a real fragment, which carries no whole TCP header to judge. The repair build passes the same
     * SYNs on unmarked, to the rings.
     */
    @Test
    void shouldLeaveWhatItDoesNotAnswerToTheListenerWithTheKernelsHandoff() throws Exception {
        try (XdpFastPath kernel = dualStackKernelBuild()) {
            int client = 0x0B01_0203;
            long client6 = 0x2001_0db8_0001_0005L;
            byte[] plain = syn(client, 40000, LOCAL, PORT, 1000, 1460, 7, true, true, 5);
            byte[] plain6 = syn6(client6, 5, 40000, LOCAL6_HI, LOCAL6_LO, PORT, 1000, 1440, 7, true, true, 5);
            Map<String, byte[]> left = new LinkedHashMap<>();
            left.put("IP options", frame(withIpOptions(plain)));
            left.put("an MSS of 200", frame(syn(client, 40001, LOCAL, PORT, 1000, 200, 7, true, true, 5)));
            left.put("an MSS of 535", frame(syn(client, 40002, LOCAL, PORT, 1000, 535, 7, true, true, 5)));
            left.put("an IPv6 MSS of 1000", frame6(syn6(client6, 5, 40003, LOCAL6_HI, LOCAL6_LO, PORT, 1000, 1000, 7,
                    true, true, 5)));
            left.put("an IPv6 atomic fragment", frame6(withFragmentHeader(plain6, 0)));
            left.put("a destination options header", frame6(withDestinationOptions(plain6)));
            byte[] badSum = plain.clone();
            badSum[36] ^= 0x01;
            left.put("a wrong checksum", frame(badSum));
            long passed = kernel.counter(XdpFastPath.PASSED);
            for (Map.Entry<String, byte[]> e : left.entrySet()) {
                XdpFastPath.TestResult r = kernel.testRun(SynPath.TC, e.getValue());
                assertEquals(XdpFastPath.TestResult.PASS, r.verdict(), e.getKey());
                assertEquals(KERNEL_SYN_PRIORITY, r.priority(), e.getKey() + ": to the listener");
            }
            assertEquals(passed + left.size(), kernel.counter(XdpFastPath.PASSED));
            XdpFastPath.TestResult answered = kernel.testRun(SynPath.TC, frame(syn(client, 40004, LOCAL, PORT, 1000, 536,
                    7, true, true, 5)));
            assertEquals(XdpFastPath.TestResult.TX, answered.verdict(), "536 and up: a cookie");
            assertEquals(0, answered.priority());
            XdpFastPath.TestResult fragment = kernel.testRun(SynPath.TC, frame6(withFragmentHeader(plain6, 1)));
            assertEquals(XdpFastPath.TestResult.PASS, fragment.verdict());
            assertEquals(0, fragment.priority(), "a real fragment: not judged");
            XdpFastPath.TestResult other = kernel.testRun(SynPath.TC, frame(withIpOptions(syn(client, 40005, LOCAL, 81,
                    1000, 1460, 7, true, true, 5))));
            assertEquals(0, other.priority(), "another port's SYN with options: not ours");
            kernel.refresh(true);
            XdpFastPath.TestResult starting = kernel.testRun(SynPath.TC, frame(withIpOptions(plain)));
            assertEquals(XdpFastPath.TestResult.PASS, starting.verdict());
            assertEquals(0, starting.priority(), "the pass switch at start-up: the guard drops it");
        }
        XdpFastPath.TestResult repair = xdp.testRun(SynPath.TC, frame(withIpOptions(syn(0x0B01_0203, 40006, LOCAL,
                PORT, 1000, 1460, 7, true, true, 5))));
        assertEquals(XdpFastPath.TestResult.PASS, repair.verdict());
        assertEquals(0, repair.priority(), "the repair build: to the rings, unmarked");
    }

    /** An IPv4 packet with a 4-byte option (NOP NOP NOP EOL) inserted after its header. */
    private static byte[] withIpOptions(byte[] ip) {
        byte[] out = new byte[ip.length + 4];
        System.arraycopy(ip, 0, out, 0, 20);
        out[20] = 1;
        out[21] = 1;
        out[22] = 1;
        System.arraycopy(ip, 20, out, 24, ip.length - 20);
        out[0] = 0x46;
        out[2] = (byte) (out.length >>> 8);
        out[3] = (byte) out.length;
        return TcpPacket.fixIpv4HeaderChecksum(out, 0);
    }

    /** An IPv6 packet with a fragment header before TCP: offset 0, and More Fragments as {@code more}. */
    private static byte[] withFragmentHeader(byte[] ip6, int more) {
        return insertExtension(ip6, 44, new byte[] {6, 0, 0, (byte) more, 0, 0, 0, 7});
    }

    /** An IPv6 packet with an empty destination options header (PadN) before TCP. */
    private static byte[] withDestinationOptions(byte[] ip6) {
        return insertExtension(ip6, 60, new byte[] {6, 0, 1, 4, 0, 0, 0, 0});
    }

    private static byte[] insertExtension(byte[] ip6, int type, byte[] header) {
        byte[] out = new byte[ip6.length + header.length];
        System.arraycopy(ip6, 0, out, 0, 40);
        System.arraycopy(header, 0, out, 40, header.length);
        System.arraycopy(ip6, 40, out, 40 + header.length, ip6.length - 40);
        out[6] = (byte) type;
        int payload = out.length - 40;
        out[4] = (byte) (payload >>> 8);
        out[5] = (byte) payload;
        return out;
    }

    private int synVerdict(XdpFastPath program, int source) {
        return program.testRun(SynPath.TC, frame(syn(source, 40000, LOCAL, PORT, 1000, 1460, 7, true, true, 5))).verdict();
    }

    private int syn6Verdict(XdpFastPath program, long sourceHi) {
        return program.testRun(SynPath.TC, frame6(syn6(sourceHi, 5, 40000, LOCAL6_HI, LOCAL6_LO, PORT, 1000, 1440, 7,
                true, true, 5))).verdict();
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldLeaveToUserSpaceWhatItDoesNotAnswer(SynPath path) {
        long passed = xdp.counter(XdpFastPath.PASSED);
        byte[] syn = syn(0x0B01_0203, 40000, LOCAL, PORT, 1000, 1460, 7, true, true, 5);
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(syn(0x0B01_0203, 40000, LOCAL, 81, 1000, 1460,
                7, true, true, 5))).verdict(), "another port: not counted, not answered");
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(syn(0x0B01_0203, 40000, LOCAL + 1, PORT, 1000,
                1460, 7, true, true, 5))).verdict(), "another address");
        byte[] badSum = syn.clone();
        badSum[36] ^= 0x01;
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(badSum)).verdict(),
                "a checksum that is wrong: the kernel would drop the SYN, user space decides");
        for (String mac : List.of("02:00:00:00:00:99", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01")) {
            byte[] other = frame(syn);
            System.arraycopy(HexFormat.ofDelimiter(":").parseHex(mac), 0, other, 0, 6);
            assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, other).verdict(), "a frame for " + mac);
        }
        byte[] synAck = segment(0x0B01_0203, 40000, LOCAL, PORT, 1001, 77, TcpFlyweight.SYN | TcpFlyweight.ACK);
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(synAck)).verdict(), "not a SYN alone");
        byte[] malformed = syn(0x0B01_0203, 40000, LOCAL, PORT, 1000, 1460, -1, false, false, 0);
        malformed[20 + 21] = 1; // the MSS option's length
        fixTcpChecksum(malformed);
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(malformed)).verdict(), "a malformed option");
        byte[] v6 = frame(syn);
        v6[12] = (byte) 0x86;
        v6[13] = (byte) 0xdd;
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, v6).verdict(), "IPv4 behind IPv6's type");
        xdp.refresh(true);
        try {
            assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(syn)).verdict(), "the pass switch");
        } finally {
            xdp.refresh(false);
        }
        assertEquals(XdpFastPath.TestResult.TX, xdp.testRun(path, frame(syn)).verdict());
        assertEquals(passed + 3, xdp.counter(XdpFastPath.PASSED), "the three SYNs to our port it passed");
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldAnswerALocalSendersSynWhoseChecksumIsLeftToOffload(SynPath path) {
        // No timestamps: the SYN/ACK's TSval is the clock's, and the two runs below compare whole frames.
        byte[] syn = syn(0x0B01_0203, 40001, LOCAL, PORT, 2000, 1460, 7, true, false, 0);
        byte[] expected = frame(syn);
        // CHECKSUM_PARTIAL, as a veth peer's TCP stack sends it: the pseudo-header's sum, not complemented.
        byte[] partial = syn.clone();
        int len = partial.length - 20;
        long pseudo = (LOCAL >>> 16) + (LOCAL & 0xffff) + 0x0B01 + 0x0203 + 6 + len;
        pseudo = (pseudo & 0xffff) + (pseudo >>> 16);
        pseudo = (pseudo & 0xffff) + (pseudo >>> 16);
        partial[36] = (byte) (pseudo >>> 8);
        partial[37] = (byte) pseudo;
        XdpFastPath.TestResult r = xdp.testRun(path, frame(partial));
        assertEquals(XdpFastPath.TestResult.TX, r.verdict(), "answered, as the kernel and the Java front end would");
        XdpFastPath.TestResult full = xdp.testRun(path, expected);
        assertEquals(HexFormat.of().formatHex(full.frame()), HexFormat.of().formatHex(r.frame()),
                "the same SYN/ACK as for the SYN with its checksum finished");
        partial[37] ^= 0x01;
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(partial)).verdict(),
                "one bit off the pseudo-header's sum: wrong, left to user space");
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldDropAMartianSourceUnanswered(SynPath path) {
        long martians = xdp.counter(XdpFastPath.MARTIAN);
        for (int source : new int[] {0x7F00_0005, 0xE000_0001, 0x0000_0001, LOCAL}) {
            byte[] syn = syn(source, 40000, LOCAL, PORT, 1000, 1460, 7, true, true, 5);
            assertEquals(XdpFastPath.TestResult.DROP, xdp.testRun(path, frame(syn)).verdict(), Integer.toHexString(source));
        }
        assertEquals(martians + 4, xdp.counter(XdpFastPath.MARTIAN));
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldAnswerEveryIpv6SynAsTheJavaFrontEndWould(SynPath path) {
        Random random = new Random(43);
        int[] mss = {-1, 48, 536, 1219, 1220, 1280, 1432, 1440, 9000};
        int[] wscale = {-1, 0, 7, 14};
        long sent = xdp.counter(XdpFastPath.SYNACK);
        int cases = 0;
        for (int m : mss) {
            for (int w : wscale) {
                for (int flags = 0; flags < 4; flags++) {
                    long clientHi = 0x2001_0db8_0001_0000L | random.nextInt(1 << 16);
                    long clientLo = random.nextLong();
                    int port = 1024 + random.nextInt(60000);
                    int isn = random.nextInt();
                    boolean sack = (flags & 1) != 0;
                    boolean ts = (flags & 2) != 0;
                    byte[] syn = syn6(clientHi, clientLo, port, LOCAL6_HI, LOCAL6_LO, PORT, isn, m, w, sack, ts,
                            random.nextInt());
                    String what = "IPv6, mss " + m + ", wscale " + w + ", sack " + sack + ", timestamps " + ts;
                    byte[] ours = assertAnsweredAsJavaWould(path, frame6(syn), syn, ts, what);
                    assertEquals(Reject.NONE, parsed.parse(MemorySegment.ofArray(ours), 0, ours.length, true));
                    byte[] ack = segment6(clientHi, clientLo, port, LOCAL6_HI, LOCAL6_LO, PORT, parsed.ack(),
                            parsed.seq() + 1, TcpFlyweight.ACK);
                    assertEquals(Reject.NONE, parsed.parse(MemorySegment.ofArray(ack), 0, ack.length, true));
                    assertTrue(handshake.verifyAck(parsed, new AckVerdict()), "the Java front end takes it: " + what);
                    cases++;
                }
            }
        }
        assertEquals(sent + cases, xdp.counter(XdpFastPath.SYNACK));
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldLeaveToUserSpaceTheIpv6SynsItDoesNotAnswer(SynPath path) {
        long passed = xdp.counter(XdpFastPath.PASSED);
        long client = 0x2001_0db8_0001_0000L;
        byte[] syn = syn6(client, 7, 40000, LOCAL6_HI, LOCAL6_LO, PORT, 1000, 1440, 7, true, true, 5);
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame6(syn6(client, 7, 40000, LOCAL6_HI, LOCAL6_LO,
                81, 1000, 1440, 7, true, true, 5))).verdict(), "another port: not counted, not answered");
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame6(syn6(client, 7, 40000, LOCAL6_HI,
                LOCAL6_LO + 1, PORT, 1000, 1440, 7, true, true, 5))).verdict(), "another address");
        byte[] badSum = syn.clone();
        badSum[40 + 16] ^= 0x01;
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame6(badSum)).verdict(), "a wrong checksum");
        byte[] hopByHop = syn.clone();
        hopByHop[6] = 0;
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame6(hopByHop)).verdict(),
                "an extension header: user space parses those");
        assertEquals(XdpFastPath.TestResult.TX, xdp.testRun(path, frame6(syn)).verdict());
        assertEquals(passed + 1, xdp.counter(XdpFastPath.PASSED), "the SYN to our port with a wrong checksum");
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldDropAnIpv6MartianSourceUnanswered(SynPath path) {
        long martians = xdp.counter(XdpFastPath.MARTIAN);
        long[][] sources = {{0, 0}, {0, 1}, {0, 0x0000_ffff_0a00_0001L}, {0xff02_0000_0000_0000L, 1},
                {LOCAL6_HI, LOCAL6_LO}};
        for (long[] source : sources) {
            // The writer writes an IPv4 packet for a mapped source: written from another, the source put in after.
            byte[] syn = syn6(0x2001_0db8_0001_0000L, 9, 40000, LOCAL6_HI, LOCAL6_LO, PORT, 1000, 1440, 7, true, true, 5);
            MemorySegment.ofArray(syn).set(NET_LONG, 8, source[0]);
            MemorySegment.ofArray(syn).set(NET_LONG, 16, source[1]);
            assertEquals(XdpFastPath.TestResult.DROP, xdp.testRun(path, frame6(syn)).verdict(),
                    Long.toHexString(source[0]) + ":" + Long.toHexString(source[1]));
        }
        assertEquals(martians + sources.length, xdp.counter(XdpFastPath.MARTIAN));
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldPassAnAckWhoseCookieVerifiesAndDropOneThatDoesNot(SynPath path) {
        Random random = new Random(44);
        long dropped = xdp.counter(XdpFastPath.ACK_DROPPED);
        long screened = xdp.counter(XdpFastPath.SCREENED);
        int invalid = 0;
        for (int i = 0; i < 40; i++) {
            boolean v6 = i % 2 == 1;
            long clientHi = 0x2001_0db8_0001_0000L | random.nextInt(1 << 16);
            long clientLo = random.nextLong();
            int client = 0x0B00_0000 | random.nextInt(1 << 24);
            int port = 1024 + random.nextInt(60000);
            int isn = random.nextInt();
            byte[] syn = v6 ? syn6(clientHi, clientLo, port, LOCAL6_HI, LOCAL6_LO, PORT, isn, 1440, 7, true, true, 5)
                    : syn(client, port, LOCAL, PORT, isn, 1460, 7, true, true, 5);
            byte[] synAck = xdp.testRun(path, v6 ? frame6(syn) : frame(syn)).frame();
            int cookie = MemorySegment.ofArray(synAck).get(NET_INT, 14 + (v6 ? 40 : 20) + 4);
            for (int[] form : new int[][] {{isn + 1, cookie + 1, 1}, {isn, cookie + 1, 1}, {isn + 1, cookie + 1 ^ 1 << 20, 0},
                    {isn + 1, cookie + 2, 0}, {isn + 2, cookie + 1, 0}}) {
                byte[] ack = v6 ? segment6(clientHi, clientLo, port, LOCAL6_HI, LOCAL6_LO, PORT, form[0], form[1], TcpFlyweight.ACK)
                        : segment(client, port, LOCAL, PORT, form[0], form[1], TcpFlyweight.ACK);
                int verdict = xdp.testRun(path, v6 ? frame6(ack) : frame(ack)).verdict();
                String what = (v6 ? "IPv6" : "IPv4") + " seq " + (form[0] - isn) + " from the client's ISN, ack "
                        + Integer.toHexString(form[1] ^ cookie + 1) + " off the cookie";
                assertEquals(form[2] == 1 ? XdpFastPath.TestResult.PASS : XdpFastPath.TestResult.DROP, verdict, what);
                invalid += 1 - form[2];
            }
        }
        assertEquals(screened + 40 * 5, xdp.counter(XdpFastPath.SCREENED));
        assertEquals(dropped + invalid, xdp.counter(XdpFastPath.ACK_DROPPED));
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldDropWhatTheFrontEndWouldOnlyCount(SynPath path) {
        long other = xdp.counter(XdpFastPath.OTHER_DROPPED);
        long martian = xdp.counter(XdpFastPath.MARTIAN_SEGMENT);
        int[] flags = {TcpFlyweight.RST, TcpFlyweight.RST | TcpFlyweight.ACK, TcpFlyweight.FIN,
                TcpFlyweight.FIN | TcpFlyweight.ACK, 0};
        for (int f : flags) {
            byte[] s = segment(0x0B01_0203, 40000, LOCAL, PORT, 1001, 77, f);
            assertEquals(XdpFastPath.TestResult.DROP, xdp.testRun(path, frame(s)).verdict(), "flags " + f);
        }
        assertEquals(other + flags.length, xdp.counter(XdpFastPath.OTHER_DROPPED));
        for (int source : new int[] {0x7F00_0005, 0xE000_0001, LOCAL}) {
            byte[] s = segment(source, 40000, LOCAL, PORT, 1001, 77, TcpFlyweight.ACK);
            assertEquals(XdpFastPath.TestResult.DROP, xdp.testRun(path, frame(s)).verdict(), Integer.toHexString(source));
        }
        assertEquals(martian + 3, xdp.counter(XdpFastPath.MARTIAN_SEGMENT));
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldPassTheSegmentsItCannotJudge(SynPath path) {
        long screened = xdp.counter(XdpFastPath.SCREENED);
        byte[] ack = segment(0x0B01_0203, 40000, LOCAL, PORT, 1001, 77, TcpFlyweight.ACK);
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(segment(0x0B01_0203, 40000, LOCAL, 81, 1001,
                77, TcpFlyweight.ACK))).verdict(), "another port");
        byte[] other = frame(ack);
        System.arraycopy(HexFormat.ofDelimiter(":").parseHex("02:00:00:00:00:99"), 0, other, 0, 6);
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, other).verdict(), "a frame for another host");
        // 100 bytes of data (the screen reads the IP length, not the checksum).
        byte[] data = Arrays.copyOf(ack, ack.length + 100);
        data[3] = (byte) data.length;
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(data)).verdict(),
                "data, which the zero window keeps out of the rings");
        assertEquals(screened, xdp.counter(XdpFastPath.SCREENED), "none of those screened");
        xdp.refresh(true);
        try {
            assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, frame(ack)).verdict(), "the pass switch");
        } finally {
            xdp.refresh(false);
        }
        assertEquals(XdpFastPath.TestResult.DROP, xdp.testRun(path, frame(ack)).verdict());
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldPassTheNextGenerationsCookieThatItsKeysMayLagBehind(SynPath path) {
        // One generation ahead: the other slot's next key. Two: the current slot's parity, which it does not hold.
        assertEquals(XdpFastPath.TestResult.PASS, xdp.testRun(path, ackMintedBy(new KeyRing(SECRET, 60_000,
                () -> NOW + 60_000))).verdict(), "a minute ahead");
        assertEquals(XdpFastPath.TestResult.DROP, xdp.testRun(path, ackMintedBy(new KeyRing(SECRET, 60_000,
                () -> NOW + 120_000))).verdict(), "two minutes ahead");
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldPassACookieOfTheValidateOnlySecretWhileOneIsInForce(SynPath path) throws XdpException {
        byte[] old = "the secret a fleet is rolling off".getBytes(StandardCharsets.US_ASCII);
        CookieSecrets both = new CookieSecrets(MasterKey.of(SECRET), MasterKey.of(old));
        try (XdpFastPath rolling = XdpFastPath.load(List.of(new InetSocketAddress("10.77.0.2", PORT)), SERVER_MAC,
                new KeyRing(SecretSource.fixed(both), 60_000, 0, () -> NOW), OUR_MSS, OUR_MSS - 20, OUR_WSCALE, 0, 0)) {
            rolling.refresh(false);
            for (long at : new long[] {NOW - 60_000, NOW, NOW + 60_000}) {
                assertEquals(XdpFastPath.TestResult.PASS, rolling.testRun(path, ackMintedBy(new KeyRing(old, 60_000,
                        () -> at))).verdict(), "the validate-only secret's cookie, " + (at - NOW) + " ms");
            }
            byte[] other = "a secret nobody here holds, at all".getBytes(StandardCharsets.US_ASCII);
            assertEquals(XdpFastPath.TestResult.DROP, rolling.testRun(path, ackMintedBy(new KeyRing(other, 60_000,
                    () -> NOW))).verdict(), "another secret's");
        }
        assertEquals(XdpFastPath.TestResult.DROP, xdp.testRun(path, ackMintedBy(new KeyRing(old, 60_000, () -> NOW)))
                .verdict(), "without the validate-only secret");
    }

    /** The final ACK, as a frame, of a handshake whose cookie {@code keys} minted. */
    private byte[] ackMintedBy(KeyRing keys) {
        Handshake minting = new Handshake(new SynCookie(keys), OUR_MSS, OUR_MSS - 20, OUR_WSCALE, true);
        byte[] syn = syn(0x0B01_0203, 40002, LOCAL, PORT, 5000, 1460, 7, true, false, 0);
        assertEquals(Reject.NONE, parsed.parse(MemorySegment.ofArray(syn), 0, syn.length, true));
        MemorySegment out = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        minting.synAck(parsed, out, 0, 0);
        int cookie = out.get(NET_INT, 20 + 4);
        return frame(segment(0x0B01_0203, 40002, LOCAL, PORT, 5001, cookie + 1, TcpFlyweight.ACK));
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldLetInvalidAcksOnToUserSpaceAtTheRstRate(SynPath path) throws XdpException {
        try (XdpFastPath slow = XdpFastPath.load(List.of(new InetSocketAddress("10.77.0.2", PORT)), SERVER_MAC,
                new KeyRing(SECRET, 60_000, () -> NOW), OUR_MSS, OUR_MSS - 20, OUR_WSCALE, 0, 1)) {
            slow.refresh(false);
            byte[] ack = frame(segment(0x0B01_0203, 40000, LOCAL, PORT, 1001, 77, TcpFlyweight.ACK));
            assertEquals(XdpFastPath.TestResult.PASS, slow.testRun(path, ack).verdict(), "the first: user space resets it");
            for (int i = 0; i < 10; i++) {
                assertEquals(XdpFastPath.TestResult.DROP, slow.testRun(path, ack).verdict(), "within the second");
            }
            assertEquals(10, slow.counter(XdpFastPath.ACK_DROPPED));
        }
    }

    @ParameterizedTest
    @EnumSource(value = SynPath.class, names = {"TC", "XDP"})
    void shouldPassTheSegmentsOfAConnectionThisHostsKernelHolds(SynPath path) throws Exception {
        ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        int port = server.getLocalPort();
        try (server; Socket client = new Socket(InetAddress.getLoopbackAddress(), port);
             Socket accepted = server.accept();
             XdpFastPath local = XdpFastPath.load(List.of(new InetSocketAddress("127.0.0.1", port)),
                     SERVER_MAC, new KeyRing(SECRET, 60_000, () -> NOW), OUR_MSS, OUR_MSS - 20, OUR_WSCALE, 0, 0)) {
            local.refresh(false);
            int loopback = 0x7F00_0001;
            byte[] live = frame(segment(loopback, client.getLocalPort(), loopback, port, 1001, 77, TcpFlyweight.ACK));
            byte[] none = frame(segment(loopback, client.getLocalPort() ^ 1, loopback, port, 1001, 77, TcpFlyweight.ACK));
            assertEquals(XdpFastPath.TestResult.PASS, local.testRun(path, live).verdict(),
                    "a random ACK of a live connection: the kernel's");
            assertEquals(XdpFastPath.TestResult.PASS, local.testRun(path, none).verdict(),
                    "another program listens on the port: the kernel's too");
            assertEquals(0, local.counter(XdpFastPath.SCREENED));
            server.close();
            assertEquals(XdpFastPath.TestResult.PASS, local.testRun(path, live).verdict(), "still live");
            assertEquals(XdpFastPath.TestResult.DROP, local.testRun(path, none).verdict(),
                    "no socket: screened (and from a martian source off loopback)");
            assertEquals(1, local.counter(XdpFastPath.SCREENED));
            assertTrue(accepted.isConnected());
        }
    }

    private byte[] syn6(long srcHi, long srcLo, int sport, long dstHi, long dstLo, int dport, int isn, int mss,
                        int wscale, boolean sack, boolean ts, int tsVal) {
        MemorySegment buf = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        int len = writer.from(srcHi, srcLo, sport).to(dstHi, dstLo, dport)
                .seq(isn).flags(TcpFlyweight.SYN).window(64800).mss(mss).wscale(wscale).sackPermitted(sack)
                .timestamps(ts, tsVal, 0).write(buf, 0);
        return buf.asSlice(0, len).toArray(JAVA_BYTE);
    }

    private byte[] segment6(long srcHi, long srcLo, int sport, long dstHi, long dstLo, int dport, int seq, int ack,
                            int flags) {
        MemorySegment buf = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        int len = writer.from(srcHi, srcLo, sport).to(dstHi, dstLo, dport)
                .seq(seq).ack(ack).flags(flags).window(502).write(buf, 0);
        return buf.asSlice(0, len).toArray(JAVA_BYTE);
    }

    private static byte[] frame6(byte[] ip) {
        byte[] f = frame(ip);
        f[12] = (byte) 0x86;
        f[13] = (byte) 0xdd;
        return f;
    }

    private byte[] syn(int src, int sport, int dst, int dport, int isn, int mss, int wscale, boolean sack,
                       boolean ts, int tsVal) {
        MemorySegment buf = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        int len = writer.from(0, TcpSegment.mapped(src), sport).to(0, TcpSegment.mapped(dst), dport)
                .seq(isn).flags(TcpFlyweight.SYN).window(64240).mss(mss).wscale(wscale).sackPermitted(sack)
                .timestamps(ts, tsVal, 0).write(buf, 0);
        return buf.asSlice(0, len).toArray(JAVA_BYTE);
    }

    private byte[] segment(int src, int sport, int dst, int dport, int seq, int ack, int flags) {
        MemorySegment buf = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        int len = writer.from(0, TcpSegment.mapped(src), sport).to(0, TcpSegment.mapped(dst), dport)
                .seq(seq).ack(ack).flags(flags).window(502).write(buf, 0);
        return buf.asSlice(0, len).toArray(JAVA_BYTE);
    }

    private static byte[] frame(byte[] ip) {
        byte[] f = new byte[14 + ip.length];
        System.arraycopy(SERVER_MAC, 0, f, 0, 6);
        System.arraycopy(CLIENT_MAC, 0, f, 6, 6);
        f[12] = 0x08;
        System.arraycopy(ip, 0, f, 14, ip.length);
        return f;
    }

    /** Runs the program on {@code frame}, a frame of {@code syn}: its SYN/ACK is the Java front end's; returned. */
    private byte[] assertAnsweredAsJavaWould(SynPath path, byte[] frame, byte[] syn, boolean ts, String what) {
        XdpFastPath.TestResult r = xdp.testRun(path, frame);
        assertEquals(XdpFastPath.TestResult.TX, r.verdict(), path + ": " + what);
        assertArrayEquals(CLIENT_MAC, Arrays.copyOfRange(r.frame(), 0, 6), "back to the sender: " + what);
        assertArrayEquals(SERVER_MAC, Arrays.copyOfRange(r.frame(), 6, 12), what);
        assertArrayEquals(Arrays.copyOfRange(frame, 12, 14), Arrays.copyOfRange(r.frame(), 12, 14), "its family");
        byte[] ours = Arrays.copyOfRange(r.frame(), 14, r.frame().length);
        byte[] java = javaSynAck(syn, ts ? tsValOf(ours) : 0);
        assertEquals(HexFormat.of().formatHex(java), HexFormat.of().formatHex(ours), what);
        return ours;
    }

    private byte[] javaSynAck(byte[] syn, int tsNow) {
        assertEquals(Reject.NONE, parsed.parse(MemorySegment.ofArray(syn), 0, syn.length, true));
        MemorySegment out = MemorySegment.ofArray(new byte[TcpSegmentWriter.MAX_LENGTH]);
        int len = handshake.synAck(parsed, out, 0, tsNow);
        return out.asSlice(0, len).toArray(JAVA_BYTE);
    }

    /** Our TSval in a SYN/ACK: the timestamps option is the last 10 bytes before any window scale option. */
    private int tsValOf(byte[] synAck) {
        assertEquals(Reject.NONE, parsed.parse(MemorySegment.ofArray(synAck), 0, synAck.length, true),
                "the program's SYN/ACK parses, checksums included");
        assertTrue(parsed.options().hasTimestamps());
        return parsed.options().tsVal();
    }

    private void assertFinalAckVerifies(byte[] synAck, int client, int port) {
        assertEquals(Reject.NONE, parsed.parse(MemorySegment.ofArray(synAck), 0, synAck.length, true));
        int isn = parsed.seq();
        int clientNext = parsed.ack();
        byte[] ack = segment(client, port, LOCAL, PORT, clientNext, isn + 1, TcpFlyweight.ACK);
        assertEquals(Reject.NONE, parsed.parse(MemorySegment.ofArray(ack), 0, ack.length, true));
        assertTrue(handshake.verifyAck(parsed, new AckVerdict()), "the Java front end takes the program's cookie");
    }

    private static void fixTcpChecksum(byte[] ip) {
        ip[36] = 0;
        ip[37] = 0;
        long sum = 0;
        for (int i = 12; i < 20; i += 2) {
            sum += (ip[i] & 0xff) << 8 | (ip[i + 1] & 0xff);
        }
        int tcpLen = ip.length - 20;
        sum += 6 + tcpLen;
        for (int i = 20; i < ip.length; i += 2) {
            sum += (ip[i] & 0xff) << 8 | (i + 1 < ip.length ? ip[i + 1] & 0xff : 0);
        }
        while (sum >>> 16 != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        int c = (int) ~sum & 0xffff;
        ip[36] = (byte) (c >>> 8);
        ip[37] = (byte) c;
    }
}
