package io.synproxy.frontend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The classic BPF program attached to the capture socket: only TCP to a protected address and port
 * reaches user space. The socket is SOCK_DGRAM, so offsets count from the IP header whatever the link
 * layer is. With both families the socket is bound to ETH_P_ALL and the program starts on the frame's
 * protocol (the {@code SKF_AD_PROTOCOL} ancillary load); with one family it is bound to that family alone.
 *
 * <p>With {@code headersOnly} a matching segment must also be a SYN (data or not: TFO) or carry at most one byte: the
 * data segments of live connections, which user space only counts, stay in the kernel. That is right only with
 * the zero-window SYN/ACK, where the segments the front end acts on (SYN, final ACK and its probe form, their
 * replays, RST, FIN) carry no data, except the zero-window probe of stacks that probe with one byte (BSD,
 * macOS, Windows), which completes the handshake when the final ACK was lost; with a window open at the SYN/ACK the final ACK may carry the first request,
 * which the handoff queues. A segment too short for its whole TCP header is passed, for user space to reject and
 * count. Packets with IPv6 extension headers are passed as before. The early drops then go to their family's
 * {@code ret #0} (N4, N6) and each check ends in its own returns, so that no jump crosses more than one
 * family's listens. Without {@code headersOnly}: no H4 and H6, a match jumps to its family's accept (P4, P6).
 * Every jump stays within one family's block, so any mix of 16 listens fits the 8-bit jump offsets.
 *
 * <p>A loop captures with two programs ({@link Segments}): {@code SYNS} passes only what the whole program passes and
 * is a SYN (SYN set; ACK, RST and FIN clear), {@code REST} the rest of it, so that the two rings split the segments
 * without overlap. After the listen match both go to H4/H6, which first pass (REST) or drop (SYNS) a segment too
 * short for its TCP header, then mask the flags with {@code and #0x17} and {@code jeq #0x02}. SYNS drops IPv6
 * extension headers at once (user space skips or rejects them from the other ring).
 *
 * <p>The lo ring's program ({@code LOCAL}: clients on this host) is {@code ALL}'s with a source check at the start of
 * each family's block: the source must be a loopback address (127/8, {@code ::1}) or a listen's own address, else
 * {@code ret #0}. The proxy's own timestamp echo and re-sent early data cross lo to the listen too, but with the
 * remote client as their source: without the check, every handoff would cost the lo ring a frame and a loop turn.
 *
 * <p>Every program first drops frames not addressed to this host at link level (another host's MAC, broadcast,
 * multicast: the {@code SKF_AD_PKTTYPE} ancillary load), which the kernel's TCP never sees either.
 *
 * <pre>
 *         ld  #pkttype
 *         jeq #0, L00, D00        ; PACKET_HOST
 * D00:    ret #0
 * L00:    ld  #proto              ; both families only
 *         jeq #0x0800, V4, L0
 * L0:     jeq #0x86dd, V6, N4
 * V4:     ldb [9]                 ; protocol
 *         jeq #6, L1, N4
 * L1:     ldh [6]                 ; flags + fragment offset: later fragments carry no TCP header
 *         jset #0x1fff, N4, L2
 * L2:     ldxb 4*([0]&amp;0xf)       ; IP header length
 *         ldh [x+2]               ; TCP destination port
 *         st  M[0]
 *         ; per IPv4 listen: ld [16]; jeq #addr (skipped for 0.0.0.0); ld M[0]; jeq #port, P4 (headersOnly: H4)
 * N4:     ret #0
 * P4:     ret #262144             ; without headersOnly only
 * H4:     ld  #len                ; headersOnly only; x still holds the IP header length
 *         sub x
 *         jge #20, L3, P4         ; not a whole TCP header: user space rejects it
 * L3:     ldb [x+13]              ; TCP flags
 *         jset #0x02, P4, L4      ; a SYN
 * L4:     ldb [x+12]              ; data offset
 *         and #0xf0
 *         rsh #2                  ; TCP header length
 *         add x
 *         add #1                  ; one byte of payload passes: the zero-window probe of BSD, macOS, Windows
 *         tax                     ; IP + TCP header length + 1
 *         ldh [2]                 ; total length
 *         jgt x, D4, P4           ; two bytes of payload or more: a data segment
 * D4:     ret #0
 * P4:     ret #262144
 * V6:     ldb [6]                 ; next header
 *         jeq #6, T6              ; TCP right after the fixed header
 *         jeq #0 / #43 / #44 / #60, E6, N6   ; extension headers: user space skips or rejects (and counts) them
 * T6:     ldh [42]                ; TCP destination port
 *         st  M[0]
 *         ; per IPv6 listen: ld [24], [28], [32], [36]: jeq the four address words (skipped for ::);
 *         ;                  ld M[0]; jeq #port, P6 (headersOnly: H6)
 * N6:     ret #0
 * P6:     ret #262144             ; without headersOnly only
 * H6:     ld  #len                ; headersOnly only
 *         jge #60, L5, P6         ; not a whole TCP header: user space rejects it
 * L5:     ldb [53]                ; TCP flags
 *         jset #0x02, P6, L6      ; a SYN
 * L6:     ldb [52]                ; data offset
 *         and #0xf0
 *         rsh #2
 *         add #1                  ; one byte of payload passes, as for IPv4
 *         tax                     ; TCP header length + 1
 *         ldh [4]                 ; payload length
 *         jgt x, D6, P6           ; two bytes of TCP payload or more: a data segment
 * D6:     ret #0
 * P6:     ret #262144
 * E6:     ldb [24]; jeq #0xff, D6E   ; never multicast (MLD reports carry a hop-by-hop header)
 *         ; per IPv6 listen: the four address words (any for ::), accept; the port is checked in user space
 * D6E:    ret #0
 * accept: ret #262144
 * </pre>
 */
final class Bpf {
    /**
     * The flow hash the BPF program at tc ingress gives a segment of a connection this host's kernel holds (a
     * handed-off one): must match KERNEL_OWNED_HASH in synproxy_xdp.c.
     */
    static final int KERNEL_OWNED_HASH = 0x5359_4e50;
    private static final int LD_W_ABS = 0x20;
    private static final int LD_H_ABS = 0x28;
    private static final int LD_B_ABS = 0x30;
    private static final int LD_W_LEN = 0x80;
    private static final int LD_MEM = 0x60;
    private static final int ST = 0x02;
    private static final int LDX_B_MSH = 0xb1;
    private static final int LD_H_IND = 0x48;
    private static final int LD_B_IND = 0x50;
    private static final int ADD_X = 0x0c;
    private static final int ADD_K = 0x04;
    private static final int SUB_X = 0x1c;
    private static final int AND_K = 0x54;
    private static final int RSH_K = 0x74;
    private static final int TAX = 0x07;
    private static final int JEQ_K = 0x15;
    private static final int JGT_X = 0x2d;
    private static final int JGE_K = 0x35;
    private static final int JSET_K = 0x45;
    private static final int RET_K = 0x06;
    /** SKF_AD_OFF + SKF_AD_PROTOCOL: the frame's protocol, host order. */
    private static final int AD_PROTOCOL = -0x1000;
    /** SKF_AD_OFF + SKF_AD_PKTTYPE: the frame's link-level packet type (sll_pkttype). */
    private static final int AD_PKTTYPE = -0x1000 + 4;
    /** SKF_AD_OFF + SKF_AD_RXHASH: the socket buffer's flow hash. */
    private static final int AD_RXHASH = -0x1000 + 32;
    /** PACKET_HOST: a frame addressed to this host at link level (not broadcast, multicast or another host's). */
    private static final int PACKET_HOST = 0;
    private static final int INSTRUCTION_SIZE = 8;
    private static final int SNAP_LENGTH = 262144;
    /** BPF_MAXINSNS: the kernel refuses a longer classic program. */
    private static final int MAX_INSTRUCTIONS = 4096;
    private static final int TCP_SYN = 0x02;
    /** SYN, ACK, RST and FIN: a segment is a SYN for the front end when SYN alone of these is set. */
    private static final int HANDSHAKE_FLAGS = 0x17;
    private static final int TCP_HEADER = 20;
    private static final int IPV6_HEADER = 40;
    /** 127.0.0.0/8. */
    private static final int LOOPBACK_NET = 0x7f00_0000;
    private static final int LOOPBACK_NET_MASK = 0xff00_0000;
    private static final byte[] LOOPBACK6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    private Bpf() {
    }

    /**
     * Builds the program for every listen in {@code listens} (IPv4 and IPv6; wildcard addresses match any).
     *
     * @param headersOnly drop the segments that are not SYNs and carry payload (safe only with the zero-window
     *                    SYN/ACK: see the class comment)
     */
    static MemorySegment tcpToListens(Arena arena, List<InetSocketAddress> listens, boolean headersOnly,
                                      Segments part, boolean dropKernelOwned) {
        return toFprog(arena, instructions(listens, headersOnly, part, dropKernelOwned));
    }

    static List<int[]> instructions(List<InetSocketAddress> listens, boolean headersOnly) {
        return instructions(listens, headersOnly, Segments.ALL);
    }

    /** @param part which of the segments the program for {@code listens} passes: all, the SYNs, or the rest */
    static List<int[]> instructions(List<InetSocketAddress> listens, boolean headersOnly, Segments part) {
        return instructions(listens, headersOnly, part, false);
    }

    /**
     * @param dropKernelOwned drop the segments (SYNs apart) that the tc program tagged with
     *                        {@link #KERNEL_OWNED_HASH}: the ACKs of handed-off connections
     */
    static List<int[]> instructions(List<InetSocketAddress> listens, boolean headersOnly, Segments part,
                                    boolean dropKernelOwned) {
        List<int[]> v4 = new ArrayList<>();
        List<InetSocketAddress> v6 = new ArrayList<>();
        for (InetSocketAddress l : listens) {
            if (l.getAddress() instanceof Inet4Address a) {
                v4.add(new int[] {a.isAnyLocalAddress() ? 0 : ByteBuffer.wrap(a.getAddress()).getInt(), l.getPort()});
            } else if (l.getAddress() instanceof Inet6Address) {
                v6.add(l);
            }
        }
        boolean local = part == Segments.LOCAL;
        Segments split = local ? Segments.ALL : part;
        Program p = new Program(dropKernelOwned && part != Segments.SYNS);
        // The kernel's TCP never sees a frame for another host, broadcast or multicast (ip_rcv, ipv6_rcv drop
        // PACKET_OTHERHOST; TCP drops the other two): neither do we.
        p.op(LD_W_ABS, AD_PKTTYPE).jump(JEQ_K, PACKET_HOST, "host", null).op(RET_K, 0).label("host");
        if (!v4.isEmpty() && !v6.isEmpty()) {
            p.op(LD_W_ABS, AD_PROTOCOL).jump(JEQ_K, 0x0800, "v4", null)
                    .jump(JEQ_K, 0x86dd, "v6", "n4");
        }
        if (!v4.isEmpty()) {
            p.label("v4");
            if (local) {
                p.localSources4(v4);
            }
            p.ipv4Block(v4, headersOnly, split);
        }
        if (!v6.isEmpty()) {
            p.label("v6");
            if (local) {
                p.localSources6(v6);
            }
            p.ipv6Block(v6, headersOnly, split);
        }
        return p.finish();
    }

    private static MemorySegment toFprog(Arena arena, List<int[]> program) {
        MemorySegment filter = arena.allocate((long) program.size() * INSTRUCTION_SIZE, 8);
        for (int i = 0; i < program.size(); i++) {
            long off = (long) i * INSTRUCTION_SIZE;
            int[] insn = program.get(i);
            filter.set(ValueLayout.JAVA_SHORT, off, (short) insn[0]);
            filter.set(ValueLayout.JAVA_BYTE, off + 2, (byte) insn[1]);
            filter.set(ValueLayout.JAVA_BYTE, off + 3, (byte) insn[2]);
            filter.set(ValueLayout.JAVA_INT, off + 4, insn[3]);
        }
        MemorySegment fprog = arena.allocate(16, 8);
        fprog.set(ValueLayout.JAVA_SHORT, 0, (short) program.size());
        fprog.set(ValueLayout.ADDRESS, 8, filter);
        return fprog;
    }

    /** A tiny assembler: jumps name labels, resolved to the 8-bit relative offsets classic BPF wants. */
    private static final class Program {
        private final List<int[]> code = new ArrayList<>();
        private final List<String[]> targets = new ArrayList<>();
        private final Map<String, Integer> labels = new HashMap<>();
        private final boolean dropKernelOwned;
        private int unique;

        Program(boolean dropKernelOwned) {
            this.dropKernelOwned = dropKernelOwned;
        }

        Program op(int code, int k) {
            return jump(code, k, null, null);
        }

        /** {@code null} targets mean the next instruction. */
        Program jump(int opcode, int k, String jt, String jf) {
            code.add(new int[] {opcode, 0, 0, k});
            targets.add(new String[] {jt, jf});
            return this;
        }

        Program label(String name) {
            labels.put(name, code.size());
            return this;
        }

        String fresh() {
            return "l" + unique++;
        }

        /** {@link Segments#LOCAL}: an IPv4 source (offset 12) neither a listen's address nor in 127/8 is dropped. */
        Program localSources4(List<int[]> listens) {
            op(LD_W_ABS, 12);
            for (int[] l : listens) {
                if (l[0] != 0) {
                    jump(JEQ_K, l[0], "s4", null);
                }
            }
            op(AND_K, LOOPBACK_NET_MASK).jump(JEQ_K, LOOPBACK_NET, "s4", null).op(RET_K, 0);
            return label("s4");
        }

        /** {@link Segments#LOCAL} for IPv6: the source (offsets 8 to 23) must be {@code ::1} or a listen's address. */
        Program localSources6(List<InetSocketAddress> listens) {
            List<byte[]> sources = new ArrayList<>();
            sources.add(LOOPBACK6);
            for (InetSocketAddress l : listens) {
                if (!l.getAddress().isAnyLocalAddress()) {
                    sources.add(l.getAddress().getAddress());
                }
            }
            for (byte[] source : sources) {
                String next = fresh();
                ByteBuffer words = ByteBuffer.wrap(source);
                for (int w = 0; w < 4; w++) {
                    op(LD_W_ABS, 8 + 4 * w).jump(JEQ_K, words.getInt(), w == 3 ? "s6" : null, next);
                }
                label(next);
            }
            return op(RET_K, 0).label("s6");
        }

        Program ipv4Block(List<int[]> listens, boolean headersOnly, Segments part) {
            String drop = "n4";
            boolean syns = part == Segments.SYNS;
            String matched = headersOnly || part != Segments.ALL ? "h4" : "p4";
            jump(LD_B_ABS, 9, null, null).jump(JEQ_K, 6, null, drop);
            jump(LD_H_ABS, 6, null, null).jump(JSET_K, 0x1fff, drop, null);
            op(LDX_B_MSH, 0).op(LD_H_IND, 2).op(ST, 0);
            for (int[] l : listens) {
                String next = fresh();
                if (l[0] != 0) {
                    op(LD_W_ABS, 16).jump(JEQ_K, l[0], null, next);
                }
                op(LD_MEM, 0).jump(JEQ_K, l[1], matched, next);
                label(next);
            }
            label("n4").op(RET_K, 0);
            if (matched.equals("p4")) {
                return acceptV4();
            }
            // X still holds the IP header length. Too short for a TCP header: user space rejects it (not a SYN).
            label("h4").op(LD_W_LEN, 0).op(SUB_X, 0).jump(JGE_K, TCP_HEADER, null, syns ? "d4" : "p4");
            op(LD_B_IND, 13);
            if (part != Segments.ALL) {
                op(AND_K, HANDSHAKE_FLAGS).jump(JEQ_K, TCP_SYN, syns ? "p4" : "d4",
                        syns ? "d4" : headersOnly ? null : "p4");
            }
            if (headersOnly && !syns) {
                jump(JSET_K, TCP_SYN, "p4", null);
                op(LD_B_IND, 12).op(AND_K, 0xf0).op(RSH_K, 2).op(ADD_X, 0).op(ADD_K, 1).op(TAX, 0);
                op(LD_H_ABS, 2).jump(JGT_X, 0, "d4", "p4");
            }
            return label("d4").op(RET_K, 0).acceptV4();
        }

        /**
         * P4, the IPv4 accept. With {@code dropKernelOwned}, a segment the tc program tagged as one of a connection
         * the kernel holds is dropped there: the flow hash is read only for a frame that matched a listen.
         */
        private Program acceptV4() {
            label("p4");
            if (dropKernelOwned) {
                op(LD_W_ABS, AD_RXHASH).jump(JEQ_K, KERNEL_OWNED_HASH, null, "k4").op(RET_K, 0).label("k4");
            }
            return op(RET_K, SNAP_LENGTH);
        }

        /** P6, the IPv6 accept, with the same drop as {@link #acceptV4}. */
        private Program acceptV6() {
            label("p6");
            if (dropKernelOwned) {
                op(LD_W_ABS, AD_RXHASH).jump(JEQ_K, KERNEL_OWNED_HASH, null, "k6").op(RET_K, 0).label("k6");
            }
            return op(RET_K, SNAP_LENGTH);
        }

        Program ipv6Block(List<InetSocketAddress> listens, boolean headersOnly, Segments part) {
            boolean syns = part == Segments.SYNS;
            String matched = headersOnly || part != Segments.ALL ? "h6" : "p6";
            if (syns) {
                // Behind extension headers even a SYN is the other ring's: user space skips or rejects them.
                op(LD_B_ABS, 6).jump(JEQ_K, 6, "t6", "n6");
            } else {
                op(LD_B_ABS, 6).jump(JEQ_K, 6, "t6", null).jump(JEQ_K, 0, "e6", null).jump(JEQ_K, 43, "e6", null)
                        .jump(JEQ_K, 44, "e6", null).jump(JEQ_K, 60, "e6", "n6");
            }
            label("t6").op(LD_H_ABS, 42).op(ST, 0);
            for (InetSocketAddress l : listens) {
                String next = fresh();
                address6(l, next);
                op(LD_MEM, 0).jump(JEQ_K, l.getPort(), matched, next);
                label(next);
            }
            label("n6").op(RET_K, 0);
            if (matched.equals("p6")) {
                acceptV6();
            } else {
                label("h6").op(LD_W_LEN, 0).jump(JGE_K, IPV6_HEADER + TCP_HEADER, null, syns ? "x6" : "p6");
                op(LD_B_ABS, IPV6_HEADER + 13);
                if (part != Segments.ALL) {
                    op(AND_K, HANDSHAKE_FLAGS).jump(JEQ_K, TCP_SYN, syns ? "p6" : "x6",
                            syns ? "x6" : headersOnly ? null : "p6");
                }
                if (headersOnly && !syns) {
                    jump(JSET_K, TCP_SYN, "p6", null);
                    op(LD_B_ABS, IPV6_HEADER + 12).op(AND_K, 0xf0).op(RSH_K, 2).op(ADD_K, 1).op(TAX, 0);
                    op(LD_H_ABS, 4).jump(JGT_X, 0, "x6", "p6");
                }
                label("x6").op(RET_K, 0).acceptV6();
            }
            if (syns) {
                return this;
            }
            label("e6").op(LD_B_ABS, 24).jump(JEQ_K, 0xff, "d6", null); // never multicast (MLD)
            for (InetSocketAddress l : listens) {
                String next = fresh();
                address6(l, next);
                jump(JEQ_K, 0, "accept", "accept"); // unconditional: the address matched
                label(next);
            }
            return label("d6").op(RET_K, 0);
        }

        private void address6(InetSocketAddress l, String mismatch) {
            if (l.getAddress().isAnyLocalAddress()) {
                return;
            }
            ByteBuffer words = ByteBuffer.wrap(l.getAddress().getAddress());
            for (int w = 0; w < 4; w++) {
                op(LD_W_ABS, 24 + 4 * w).jump(JEQ_K, words.getInt(), null, mismatch);
            }
        }

        List<int[]> finish() {
            label("accept").op(RET_K, SNAP_LENGTH);
            if (code.size() > MAX_INSTRUCTIONS) {
                throw new IllegalStateException("BPF program of " + code.size() + " instructions, at most "
                        + MAX_INSTRUCTIONS);
            }
            for (int i = 0; i < code.size(); i++) {
                code.get(i)[1] = offset(i, targets.get(i)[0]);
                code.get(i)[2] = offset(i, targets.get(i)[1]);
            }
            return code;
        }

        private int offset(int from, String label) {
            if (label == null) {
                return 0;
            }
            Integer to = labels.get(label);
            if (to == null || to <= from || to - from - 1 > 255) {
                throw new IllegalStateException("BPF jump from " + from + " to " + label + " out of range");
            }
            return to - from - 1;
        }
    }
}
