package io.synproxy.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** sockaddr_in, sockaddr_in6 and sockaddr_ll written into native memory, and the peer's read back from accept4. */
public final class SockAddr {
    public static final int SOCKADDR_IN_SIZE = 16;
    public static final int SOCKADDR_LL_SIZE = 20;
    public static final int SOCKADDR_IN6_SIZE = 28;
    private static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort BE_SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort NATIVE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    private SockAddr() {
    }

    public static MemorySegment allocateIn(Arena arena) {
        return arena.allocate(SOCKADDR_IN_SIZE, 4);
    }

    /** Fills a sockaddr_in; {@code address} is the IPv4 address as an int in network order of bits. */
    public static MemorySegment in(MemorySegment s, int address, int port) {
        s.fill((byte) 0);
        s.set(NATIVE_SHORT, 0, (short) Constants.AF_INET);
        s.set(BE_SHORT, 2, (short) port);
        s.set(BE_INT, 4, address);
        return s;
    }

    public static MemorySegment allocateIn6(Arena arena) {
        return arena.allocate(SOCKADDR_IN6_SIZE, 4);
    }

    /**
     * Fills a sockaddr_in6 (flow info and scope id 0); the address is given as its high and low 64 bits,
     * {@code fd00::1} being {@code hi = 0xfd00_0000_0000_0000L, lo = 1}.
     */
    public static MemorySegment in6(MemorySegment s, long hi, long lo, int port) {
        s.fill((byte) 0);
        s.set(NATIVE_SHORT, 0, (short) Constants.AF_INET6);
        s.set(BE_SHORT, 2, (short) port);
        s.set(BE_LONG, 8, hi);
        s.set(BE_LONG, 16, lo);
        return s;
    }

    /** Sets a sockaddr_in6's scope id (the interface of a link-local address, as an index; 0: none). */
    public static MemorySegment scope6(MemorySegment s, int scopeId) {
        s.set(ValueLayout.JAVA_INT_UNALIGNED, 24, scopeId);
        return s;
    }

    /**
     * The high 64 bits of a sockaddr_in's or sockaddr_in6's address (as accept4 fills it), the front end's key: an
     * IPv4 address as {@code ::ffff:a.b.c.d}, whose high half is 0.
     */
    public static long addressHi(MemorySegment s) {
        return s.get(NATIVE_SHORT, 0) == Constants.AF_INET ? 0 : s.get(BE_LONG, 8);
    }

    /** The low 64 bits of the address, as {@link #addressHi}. */
    public static long addressLo(MemorySegment s) {
        return s.get(NATIVE_SHORT, 0) == Constants.AF_INET ? 0xFFFF_0000_0000L | (s.get(BE_INT, 4) & 0xFFFF_FFFFL)
                : s.get(BE_LONG, 16);
    }

    /** The port of a sockaddr_in or sockaddr_in6. */
    public static int port(MemorySegment s) {
        return Short.toUnsignedInt(s.get(BE_SHORT, 2));
    }

    /** A sockaddr_ll for binding a packet socket to {@code ifindex} (0: every interface). */
    public static MemorySegment ll(Arena arena, int protocol, int ifindex) {
        MemorySegment s = arena.allocate(SOCKADDR_LL_SIZE, 4);
        s.set(NATIVE_SHORT, 0, (short) Constants.AF_PACKET);
        s.set(BE_SHORT, 2, (short) protocol);
        s.set(ValueLayout.JAVA_INT_UNALIGNED, 4, ifindex);
        return s;
    }
}
