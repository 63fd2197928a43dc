package io.synproxy.frontend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The classic BPF program attached to the capture socket: only unfragmented-or-first-fragment
 * IPv4 TCP to the protected port (and address) reaches user space. The socket is SOCK_DGRAM, so
 * offsets count from the IP header whatever the link layer is.
 *
 * <pre>
 *   ldb [9]            ; protocol
 *   jeq #6, L1, drop
 * L1: ld [16]          ; destination address (skipped for 0.0.0.0)
 *   jeq #addr, L2, drop
 * L2: ldh [6]          ; flags + fragment offset
 *   jset #0x1fff, drop, L3
 * L3: ldxb 4*([0]&0xf) ; IP header length
 *   ldh [x+2]          ; TCP destination port
 *   jeq #port, accept, drop
 * accept: ret #262144
 * drop:   ret #0
 * </pre>
 */
final class Bpf {
    private static final short LD_B_ABS = 0x30;
    private static final short LD_H_ABS = 0x28;
    private static final short LD_W_ABS = 0x20;
    private static final short LDX_B_MSH = 0xb1;
    private static final short LD_H_IND = 0x48;
    private static final short JEQ_K = 0x15;
    private static final short JSET_K = 0x45;
    private static final short RET_K = 0x06;
    private static final int INSTRUCTION_SIZE = 8;
    private static final int SNAP_LENGTH = 262144;

    private Bpf() {
    }

    /** Builds the program; {@code address} 0 means any destination address. Returns a sock_fprog. */
    static MemorySegment tcpToPort(Arena arena, int address, int port) {
        int[][] program = address == 0
                ? new int[][] {
                    {LD_B_ABS, 0, 0, 9},
                    {JEQ_K, 0, 6, 6},
                    {LD_H_ABS, 0, 0, 6},
                    {JSET_K, 4, 0, 0x1fff},
                    {LDX_B_MSH, 0, 0, 0},
                    {LD_H_IND, 0, 0, 2},
                    {JEQ_K, 0, 1, port},
                    {RET_K, 0, 0, SNAP_LENGTH},
                    {RET_K, 0, 0, 0},
                }
                : new int[][] {
                    {LD_B_ABS, 0, 0, 9},
                    {JEQ_K, 0, 8, 6},
                    {LD_W_ABS, 0, 0, 16},
                    {JEQ_K, 0, 6, address},
                    {LD_H_ABS, 0, 0, 6},
                    {JSET_K, 4, 0, 0x1fff},
                    {LDX_B_MSH, 0, 0, 0},
                    {LD_H_IND, 0, 0, 2},
                    {JEQ_K, 0, 1, port},
                    {RET_K, 0, 0, SNAP_LENGTH},
                    {RET_K, 0, 0, 0},
                };
        MemorySegment filter = arena.allocate((long) program.length * INSTRUCTION_SIZE, 8);
        for (int i = 0; i < program.length; i++) {
            long off = (long) i * INSTRUCTION_SIZE;
            filter.set(ValueLayout.JAVA_SHORT, off, (short) program[i][0]);
            filter.set(ValueLayout.JAVA_BYTE, off + 2, (byte) program[i][1]);
            filter.set(ValueLayout.JAVA_BYTE, off + 3, (byte) program[i][2]);
            filter.set(ValueLayout.JAVA_INT, off + 4, program[i][3]);
        }
        MemorySegment fprog = arena.allocate(16, 8);
        fprog.set(ValueLayout.JAVA_SHORT, 0, (short) program.length);
        fprog.set(ValueLayout.ADDRESS, 8, filter);
        return fprog;
    }
}
