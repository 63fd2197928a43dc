package io.synproxy.xdp;

import io.synproxy.cookie.KeyRing;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;
import io.synproxy.policy.PrefixSet;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.synproxy.linux.Constants.SOL_SOCKET;
import static io.synproxy.linux.Constants.SO_ATTACH_REUSEPORT_EBPF;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * SYNs answered in the kernel ({@code --syn-path tc|xdp|xdp-generic}): {@code src/main/bpf/synproxy_xdp.c}, loaded
 * from the jar and linked to the listen interface at tc ingress or XDP ({@link SynPath}), answers IPv4 and IPv6 SYNs to
 * the protected addresses with the cookie SYN/ACK the Java front end would write, in the kernel's receive path: a SYN
 * flood then costs this process nothing. Every SYN the program leaves alone reaches the capture ring as before; the
 * final ACK is always verified and handed off here.
 *
 * <p>The program mints with the key ring's current key, which {@link #refresh} copies into its {@code config} map;
 * the map also carries the listens, our MSS, window shift and SYN/ACK window, and a "pass" switch that sends every
 * SYN to user space (a deny or allow list in force).
 *
 * <p>It also screens the segments without SYN that have no connection in this host's kernel: an ACK whose cookie
 * does not verify (past one per {@code 1/--invalid-ack-rst-rate} seconds, which user space answers with a RST), a
 * RST or FIN, a martian source, is dropped there, so an ACK flood costs this process nothing either. What verifies
 * goes on, and user space verifies it again. The segments of a connection the kernel holds pass, tagged at tc so
 * that the rings' filter drops them. The link is a BPF link: the kernel detaches the program when
 * its descriptor closes, so a killed proxy leaves nothing on the interface.
 *
 * <p>{@link #refresh} and {@link #counter} make a syscall each; one thread at a time.
 */
public final class XdpFastPath implements AutoCloseable {
    /** Where the build puts the compiled program (proxy-core's pom, where clang is installed). */
    public static final String RESOURCE = "/bpf/synproxy_xdp.o";
    /** The same program built with KERNEL_HANDOFF ({@code --handoff kernel}): verified final ACKs go to the listener. */
    public static final String KERNEL_HANDOFF_RESOURCE = "/bpf/synproxy_xdp_kernel.o";
    /** The program's counters (the {@code counters} map's indices). */
    public static final int SYN = 0;
    public static final int SYNACK = 1;
    public static final int MARTIAN = 2;
    public static final int PASSED = 3;
    /** Segments without SYN and without a connection to a protected port the program screened. */
    public static final int SCREENED = 4;
    /** Of those: ACKs whose cookie did not verify, dropped (beyond what went on for the RST rate). */
    public static final int ACK_DROPPED = 5;
    /** Of those: RST, FIN and other segments that are no plain ACK, dropped. */
    public static final int OTHER_DROPPED = 6;
    /** Of those: segments from a martian source, dropped. */
    public static final int MARTIAN_SEGMENT = 7;
    /** {@code --handoff kernel}: final ACKs handed to the proxy's listener, and those the kernel did not take. */
    public static final int ASSIGNED = 8;
    public static final int ASSIGN_FAILED = 9;
    /** With --handoff kernel: SYNs of a denied or not allowed source, dropped unanswered. */
    public static final int SYN_DENIED = 10;
    /** With --handoff kernel: final ACKs of such a source, dropped unverified. */
    public static final int ACK_DENIED = 11;
    /**
     * With --handoff kernel: ACKs whose cookie did not verify, let through to the listener at --invalid-ack-rst-rate,
     * which answers each with a RST (no ring sees them).
     */
    public static final int ACK_RST = 12;
    /** Prefixes one list can hold in the program (its trie holds two generations of them during a reload). */
    public static final int LIST_MAX_PREFIXES = 131_072;
    /** loop_listeners' shape: its key is loop * PACK_LISTENS + the listen's index. */
    public static final int PACK_LISTENS = 16;
    public static final int PACK_LOOPS = 64;
    private static final int COUNTERS = 13;
    private static final int MAX_LISTENS = 8;
    /** struct __sk_buff, as BPF_PROG_TEST_RUN takes and gives a tc program's context, and its priority field. */
    private static final int SKB_CONTEXT_BYTES = 192;
    private static final long SKB_PRIORITY = 32;
    /** struct fast_config's layout. */
    private static final long K0 = 0;
    private static final long K1 = 16;
    private static final long PARITY = 32;
    private static final long PASS = 36;
    private static final long MSS = 40;
    private static final long WSCALE = 44;
    private static final long WINDOW = 48;
    private static final long NLISTEN = 52;
    private static final long LISTENS = 56;
    private static final long MAC = LISTENS + 8 * MAX_LISTENS;
    private static final long NLISTEN6 = MAC + 8;
    private static final long MSS6 = NLISTEN6 + 4;
    private static final long LISTENS6 = MSS6 + 4;
    /** struct listen6: 16 address bytes, the port, 2 bytes of padding. */
    private static final int LISTEN6_BYTES = 20;
    private static final long VALIDATE = LISTENS6 + LISTEN6_BYTES * MAX_LISTENS;
    private static final long RST_GAP_NS = VALIDATE + 8;
    private static final long NEXT_K0 = RST_GAP_NS + 8;
    private static final long NEXT_K1 = NEXT_K0 + 8;
    private static final long V_K0 = NEXT_K1 + 8;
    private static final long V_K1 = V_K0 + 16;
    private static final long V_NEXT_K0 = V_K1 + 16;
    private static final long V_NEXT_K1 = V_NEXT_K0 + 8;
    private static final long LISTS = V_NEXT_K1 + 8;
    private static final long LIST_GEN = LISTS + 4;
    private static final int CONFIG_BYTES = (int) (LIST_GEN + 4);
    /** struct list_key: the prefix length (32 + over 128 bits), the generation, the address in network order. */
    private static final int LIST_KEY_BYTES = 24;
    private static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG.withOrder(ByteOrder.BIG_ENDIAN);

    private final Libbpf bpf;
    /** The ELF image (libbpf reads it until the object is closed), the map buffers, the link options. */
    private final Arena arena;
    private final MemorySegment object;
    private final int xdpFd;
    private final int tcFd;
    private final int configFd;
    private final int countersFd;
    private final int denyFd;
    private final int allowFd;
    /** The kernel handoff's loop packing: its SO_REUSEPORT program and maps (pick_loop, loop_listeners,
     *  loops_active); -1 in the build without. */
    private final int pickFd;
    private final int listenersFd;
    private final int activeFd;
    private final int cpus;
    private final MemorySegment key;
    private final MemorySegment config;
    private final MemorySegment perCpu;
    private final MemorySegment listKey;
    private final MemorySegment listValue;
    /** A 4-byte map value: a listener's descriptor, a loop count. */
    private final MemorySegment intValue;
    private final KeyRing keys;
    /** The keys of the lists' generation in force, to delete once the next is. */
    private long[] denyKeys = new long[0];
    private long[] allowKeys = new long[0];
    private int linkFd = -1;
    private boolean closed;
    /** The counters as they were at {@link #close}, so that the last stats line still has them. */
    private final long[] last = new long[COUNTERS];

    private XdpFastPath(Libbpf bpf, Arena arena, MemorySegment object, int xdpFd, int tcFd, int configFd,
                        int countersFd, int denyFd, int allowFd, int pickFd, int listenersFd, int activeFd,
                        KeyRing keys) {
        this.bpf = bpf;
        this.arena = arena;
        this.object = object;
        this.xdpFd = xdpFd;
        this.tcFd = tcFd;
        this.configFd = configFd;
        this.countersFd = countersFd;
        this.denyFd = denyFd;
        this.allowFd = allowFd;
        this.pickFd = pickFd;
        this.listenersFd = listenersFd;
        this.activeFd = activeFd;
        this.keys = keys;
        this.cpus = Math.max(1, bpf.possibleCpus());
        this.key = arena.allocate(4, 4);
        this.config = arena.allocate(CONFIG_BYTES, 8);
        this.perCpu = arena.allocate(8L * cpus, 8);
        this.listKey = arena.allocate(LIST_KEY_BYTES, 8);
        this.listValue = arena.allocate(1);
        this.intValue = arena.allocate(4, 4);
    }

    /**
     * Loads the program (not yet attached) with its configuration in place.
     *
     * @param listens the protected listens, at most {@value #MAX_LISTENS} of each family (wildcards 0.0.0.0 and ::
     *                allowed)
     * @param mac     the interface's Ethernet address: frames to any other pass untouched
     * @param keys    a key ring of the program's own on the proxy's secrets, refreshed by {@link #refresh}
     * @param ourMss  the MSS the SYN/ACK announces over IPv4
     * @param ourMss6 the MSS the SYN/ACK announces over IPv6
     * @param synAckWindow the SYN/ACK's window (0 with the zero-window handshake)
     * @param invalidAckRstRate how many ACKs without a valid cookie a second the program lets on to user space, which
     *                          answers them with a RST ({@code --invalid-ack-rst-rate}); 0: none, all are dropped
     * @throws XdpException in one sentence: no program in this build, no libbpf, the kernel refused it
     */
    public static XdpFastPath load(List<InetSocketAddress> listens, byte[] mac, KeyRing keys, int ourMss,
                                   int ourMss6, int ourWscale, int synAckWindow, long invalidAckRstRate)
            throws XdpException {
        return load(listens, mac, keys, ourMss, ourMss6, ourWscale, synAckWindow, invalidAckRstRate, false);
    }

    /**
     * As above; with {@code kernelHandoff} the program built with KERNEL_HANDOFF ({@code --handoff kernel}), which
     * hands a verified final ACK at tc to the listening socket on its address and port (Linux 6.9 or newer).
     */
    public static XdpFastPath load(List<InetSocketAddress> listens, byte[] mac, KeyRing keys, int ourMss,
                                   int ourMss6, int ourWscale, int synAckWindow, long invalidAckRstRate,
                                   boolean kernelHandoff) throws XdpException {
        if (invalidAckRstRate < 0) {
            throw new IllegalArgumentException("a rate is not negative: " + invalidAckRstRate);
        }
        if (mac.length != 6) {
            throw new IllegalArgumentException("an Ethernet address has 6 bytes, not " + mac.length);
        }
        List<InetSocketAddress> v4 = new ArrayList<>();
        List<InetSocketAddress> v6 = new ArrayList<>();
        for (InetSocketAddress l : listens) {
            (l.getAddress() instanceof Inet4Address ? v4 : v6).add(l);
        }
        if (v4.isEmpty() && v6.isEmpty()) {
            throw new IllegalArgumentException("no listens");
        }
        if (v4.size() > MAX_LISTENS || v6.size() > MAX_LISTENS) {
            throw new XdpException("the program takes at most " + MAX_LISTENS + " listens of each family, not "
                    + Math.max(v4.size(), v6.size()));
        }
        byte[] elf = program(kernelHandoff ? KERNEL_HANDOFF_RESOURCE : RESOURCE);
        Libbpf bpf = Libbpf.open();
        Arena arena = Arena.ofShared();
        boolean loaded = false;
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment image = arena.allocate(elf.length, 8);
            image.copyFrom(MemorySegment.ofArray(elf));
            MemorySegment object = bpf.openMem(image);
            if (object.equals(MemorySegment.NULL)) {
                throw new XdpException("libbpf cannot open the BPF program");
            }
            int r = bpf.load(object);
            if (r < 0) {
                bpf.close(object);
                throw new XdpException("the kernel refused the BPF program (" + errnoText(-r)
                        + (kernelHandoff ? "; --handoff kernel needs CAP_BPF and CAP_NET_ADMIN and Linux 6.9 or newer, "
                        + "whose bpf_sk_assign_tcp_reqsk builds a connection from a cookie)"
                        : "; it needs CAP_BPF and CAP_NET_ADMIN and Linux 5.17 or newer)"));
            }
            int prog = bpf.programFd(object, scratch.allocateFrom(SynPath.XDP.program()));
            int tc = bpf.programFd(object, scratch.allocateFrom(SynPath.TC.program()));
            int cfg = bpf.mapFd(object, scratch.allocateFrom("config"));
            int counters = bpf.mapFd(object, scratch.allocateFrom("counters"));
            int deny = bpf.mapFd(object, scratch.allocateFrom("deny_list"));
            int allow = bpf.mapFd(object, scratch.allocateFrom("allow_list"));
            if (prog < 0 || tc < 0 || cfg < 0 || counters < 0 || deny < 0 || allow < 0) {
                bpf.close(object);
                throw new XdpException("the BPF object in this build lacks its programs or maps");
            }
            int pick = bpf.programFd(object, scratch.allocateFrom("pick_loop"));
            int listeners = bpf.mapFd(object, scratch.allocateFrom("loop_listeners"));
            int active = bpf.mapFd(object, scratch.allocateFrom("loops_active"));
            XdpFastPath path = new XdpFastPath(bpf, arena, object, prog, tc, cfg, counters, deny, allow, pick,
                    listeners, active, keys);
            try {
                path.configure(v4, v6, mac, ourMss, ourMss6, ourWscale, synAckWindow, invalidAckRstRate);
            } catch (XdpException e) {
                path.close();
                throw e;
            }
            loaded = true;
            return path;
        } finally {
            if (!loaded && arena.scope().isAlive()) {
                arena.close();
            }
        }
    }

    private static byte[] program(String resource) throws XdpException {
        try (InputStream in = XdpFastPath.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new XdpException("this build has no BPF program (clang was not installed when it was built: "
                        + "apt-get install clang, then rebuild)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new XdpException("cannot read the BPF program from the jar: " + e.getMessage());
        }
    }

    private static String errnoText(int errno) {
        return Native.strerror(errno);
    }

    private void configure(List<InetSocketAddress> listens, List<InetSocketAddress> listens6, byte[] mac, int ourMss,
                           int ourMss6, int ourWscale, int synAckWindow, long invalidAckRstRate) throws XdpException {
        config.fill((byte) 0);
        config.set(JAVA_LONG, RST_GAP_NS, invalidAckRstRate == 0 ? 0 : Math.max(1, 1_000_000_000L / invalidAckRstRate));
        MemorySegment.copy(mac, 0, config, JAVA_BYTE, MAC, 6);
        config.set(JAVA_INT, MSS, ourMss);
        config.set(JAVA_INT, WSCALE, ourWscale);
        config.set(JAVA_INT, WINDOW, synAckWindow);
        config.set(JAVA_INT, NLISTEN, listens.size());
        for (int i = 0; i < listens.size(); i++) {
            InetSocketAddress l = listens.get(i);
            byte[] a = l.getAddress().getAddress();
            long at = LISTENS + 8L * i;
            for (int b = 0; b < 4; b++) {
                config.set(JAVA_BYTE, at + b, a[b]);
            }
            config.set(JAVA_BYTE, at + 4, (byte) (l.getPort() >>> 8));
            config.set(JAVA_BYTE, at + 5, (byte) l.getPort());
        }
        config.set(JAVA_INT, MSS6, ourMss6);
        config.set(JAVA_INT, NLISTEN6, listens6.size());
        for (int i = 0; i < listens6.size(); i++) {
            InetSocketAddress l = listens6.get(i);
            long at = LISTENS6 + (long) LISTEN6_BYTES * i;
            MemorySegment.copy(l.getAddress().getAddress(), 0, config, JAVA_BYTE, at, 16);
            config.set(JAVA_BYTE, at + 16, (byte) (l.getPort() >>> 8));
            config.set(JAVA_BYTE, at + 17, (byte) l.getPort());
        }
        writeKeys();
        config.set(JAVA_INT, PARITY, keys.currentParity());
        int r = write();
        if (r < 0) {
            throw new XdpException("cannot configure the BPF program: " + errnoText(-r));
        }
    }

    /**
     * Links the program to the interface.
     *
     * @throws XdpException when the interface already has an XDP program, or the mode is not supported there
     */
    public void attach(int ifindex, SynPath path) throws XdpException {
        if (!path.inKernel()) {
            throw new IllegalArgumentException("nothing to attach for " + path.label());
        }
        int fd = bpf.link(path == SynPath.TC ? tcFd : xdpFd, ifindex, path.attachType, path.flags, arena);
        if (fd < 0) {
            throw new XdpException("cannot attach the program for " + path.label() + ": " + errnoText(-fd)
                    + (-fd == 16 ? " (the interface has an XDP program already)" : "")
                    + (-fd == 22 && path == SynPath.TC ? " (tc needs Linux 6.6 or newer)" : ""));
        }
        linkFd = fd;
    }

    /** Whether this program can pick the loop a connection goes to ({@link #loopListener}; the kernel handoff's). */
    public boolean packs() {
        return pickFd >= 0 && listenersFd >= 0 && activeFd >= 0;
    }

    /**
     * Puts {@code fd}, loop {@code loop}'s listening socket on the {@code listen}-th listen, where the program's
     * SO_REUSEPORT part ({@link #pickLoopsFor}) can give it connections; the kernel takes it out when it closes.
     */
    public synchronized void loopListener(int listen, int loop, int fd) throws XdpException {
        if (!packs()) {
            throw new IllegalStateException("this program does not pick loops");
        }
        if (listen < 0 || listen >= PACK_LISTENS || loop < 0 || loop >= PACK_LOOPS) {
            throw new IllegalArgumentException("listen " + listen + ", loop " + loop + ": the program takes "
                    + PACK_LISTENS + " listens of " + PACK_LOOPS + " loops");
        }
        if (closed) {
            return;
        }
        intValue.set(JAVA_INT, 0, fd);
        int r = bpf.update(listenersFd, packKey(listen, loop), intValue);
        if (r < 0) {
            throw new XdpException("cannot give the BPF program loop " + loop + "'s listener: " + errnoText(-r));
        }
    }

    /** {@code key} set to loop_listeners' key of loop {@code loop}'s listener on the {@code listen}-th listen. */
    private MemorySegment packKey(int listen, int loop) {
        key.set(JAVA_INT, 0, loop * PACK_LISTENS + listen);
        return key;
    }

    /**
     * From now on the SO_REUSEPORT group of listening socket {@code fd} runs the program's SO_REUSEPORT part, which
     * picks among the loops {@link #activeLoops} names: a setsockopt on one member is the group's. It replaces the
     * group's program, another instance's too.
     */
    public synchronized void pickLoopsFor(int fd) throws XdpException {
        if (!packs()) {
            throw new IllegalStateException("this program does not pick loops");
        }
        try {
            Native.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, pickFd, "SO_ATTACH_REUSEPORT_EBPF");
        } catch (LinuxException e) {
            throw new XdpException("cannot attach the SO_REUSEPORT program: " + e.getMessage());
        }
    }

    /**
     * Takes loop {@code loop}'s listener on the {@code listen}-th listen out of the program's choice (the loop is at
     * --max-connections), until {@link #loopListener} puts it back. Idempotent.
     */
    public synchronized void dropLoopListener(int listen, int loop) {
        if (closed || !packs()) {
            return;
        }
        bpf.delete(listenersFd, packKey(listen, loop));
    }

    /**
     * New connections go to the listeners of loops 0 to {@code n - 1} of {@code loops} from now on, at random among
     * them (past them where they are all full); {@code n} 0: to the one the kernel's SO_REUSEPORT hash picks.
     */
    public synchronized void activeLoops(int n, int loops) {
        if (closed || !packs()) {
            return;
        }
        // The count of loops first: the program reads it only once the taking count is not 0.
        key.set(JAVA_INT, 0, 1);
        intValue.set(JAVA_INT, 0, loops);
        bpf.update(activeFd, key, intValue);
        key.set(JAVA_INT, 0, 0);
        intValue.set(JAVA_INT, 0, n);
        bpf.update(activeFd, key, intValue);
    }

    /** Detaches the program: from now on every SYN reaches the capture ring. Idempotent. */
    public synchronized void detach() {
        if (linkFd >= 0) {
            Native.close(linkFd);
            linkFd = -1;
        }
    }

    /**
     * Copies the key ring's current keys into the program (after a rotation or a secret reload) and sets the pass
     * switch (which also stops the screen). The keys go in before the parity that selects them, so the program never
     * mints with a half-written key. The program's copy lags the clock by up to the caller's period, so it also holds
     * the next generation's key: its screen then still accepts every cookie user space will.
     */
    public synchronized void refresh(boolean passToUserSpace) {
        if (closed) {
            return;
        }
        int parity = keys.currentParity();
        int shown = config.get(JAVA_INT, PARITY);
        writeKeys();
        config.set(JAVA_INT, PASS, passToUserSpace ? 1 : 0);
        write();
        if (parity != shown) {
            config.set(JAVA_INT, PARITY, parity);
            write();
        }
    }

    /**
     * The keys the screen accepts cookies of: both slots, the next generation's, and the same of a validate-only
     * secret while one is in force (a fleet rolling its secret), as {@link io.synproxy.cookie.SynCookie#verifyAck}
     * accepts them.
     */
    private void writeKeys() {
        keys.refresh();
        boolean validate = keys.hasValidateOnly();
        for (int p = 0; p < 2; p++) {
            config.set(JAVA_LONG, K0 + 8L * p, keys.k0(p));
            config.set(JAVA_LONG, K1 + 8L * p, keys.k1(p));
            config.set(JAVA_LONG, V_K0 + 8L * p, validate ? keys.v0(p) : 0);
            config.set(JAVA_LONG, V_K1 + 8L * p, validate ? keys.v1(p) : 0);
        }
        config.set(JAVA_LONG, NEXT_K0, keys.nextK0());
        config.set(JAVA_LONG, NEXT_K1, keys.nextK1());
        config.set(JAVA_LONG, V_NEXT_K0, validate ? keys.nextV0() : 0);
        config.set(JAVA_LONG, V_NEXT_K1, validate ? keys.nextV1() : 0);
        config.set(JAVA_INT, VALIDATE, validate ? 1 : 0);
    }

    private int write() {
        key.set(JAVA_INT, 0, 0);
        return bpf.update(configFd, key, config);
    }

    /**
     * Puts the deny and allow lists in force in the program (with {@code --handoff kernel}, whose final ACKs never
     * reach user space): their prefixes go into its tries as the next generation, one config write makes that the
     * one in force, and the old generation's entries are deleted. The program sees the old lists or the new ones,
     * never a mix. On failure the old lists stay in force.
     *
     * @param allow the allow list, or null for none (every source not denied is allowed)
     * @throws XdpException when a list has more than {@value #LIST_MAX_PREFIXES} prefixes, or the kernel refuses
     */
    public synchronized void lists(PrefixSet deny, PrefixSet allow) throws XdpException {
        int next = config.get(JAVA_INT, LIST_GEN) ^ 1;
        long[] newDeny = write(denyFd, deny, next, "deny");
        long[] newAllow;
        try {
            newAllow = write(allowFd, allow == null ? PrefixSet.EMPTY : allow, next, "allow");
        } catch (XdpException e) {
            delete(denyFd, newDeny, newDeny.length, next);
            throw e;
        }
        int oldLists = config.get(JAVA_INT, LISTS);
        config.set(JAVA_INT, LISTS, (deny.isEmpty() ? 0 : 1) | (allow == null ? 0 : 2));
        config.set(JAVA_INT, LIST_GEN, next);
        key.set(JAVA_INT, 0, 0);
        int r = bpf.update(configFd, key, config);
        if (r < 0) {
            config.set(JAVA_INT, LISTS, oldLists);
            config.set(JAVA_INT, LIST_GEN, next ^ 1);
            delete(denyFd, newDeny, newDeny.length, next);
            delete(allowFd, newAllow, newAllow.length, next);
            throw new XdpException("cannot put the lists in force in the BPF program: " + errnoText(-r));
        }
        delete(denyFd, denyKeys, denyKeys.length, next ^ 1);
        delete(allowFd, allowKeys, allowKeys.length, next ^ 1);
        denyKeys = newDeny;
        allowKeys = newAllow;
    }

    /** Writes {@code set}'s prefixes as generation {@code gen}; returns them, three longs each (bits, hi, lo). */
    private long[] write(int mapFd, PrefixSet set, int gen, String name) throws XdpException {
        long[][] cut = {new long[3 * 16]};
        int[] n = {0};
        set.forEachPrefix((hi, lo, bits) -> {
            if (3 * n[0] == cut[0].length) {
                cut[0] = Arrays.copyOf(cut[0], 2 * cut[0].length);
            }
            cut[0][3 * n[0]] = bits;
            cut[0][3 * n[0] + 1] = hi;
            cut[0][3 * n[0] + 2] = lo;
            n[0]++;
        });
        if (n[0] > LIST_MAX_PREFIXES) {
            throw new XdpException("the " + name + " list has " + n[0] + " prefixes after merging, more than the "
                    + LIST_MAX_PREFIXES + " the BPF program holds");
        }
        long[] prefixes = Arrays.copyOf(cut[0], 3 * n[0]);
        for (int i = 0; i < prefixes.length; i += 3) {
            int r = bpf.update(mapFd, listKey((int) prefixes[i], gen, prefixes[i + 1], prefixes[i + 2]), listValue);
            if (r < 0) {
                delete(mapFd, prefixes, i, gen);
                throw new XdpException("cannot write the " + name + " list into the BPF program: " + errnoText(-r));
            }
        }
        return prefixes;
    }

    private void delete(int mapFd, long[] prefixes, int length, int gen) {
        for (int i = 0; i < length; i += 3) {
            bpf.delete(mapFd, listKey((int) prefixes[i], gen, prefixes[i + 1], prefixes[i + 2]));
        }
    }

    private MemorySegment listKey(int bits, int gen, long hi, long lo) {
        listKey.set(JAVA_INT, 0, 32 + bits);
        listKey.set(JAVA_INT, 4, gen);
        listKey.set(BE_LONG, 8, hi);
        listKey.set(BE_LONG, 16, lo);
        return listKey;
    }

    /** One of the program's counters ({@link #SYN}, {@link #SYNACK}, ...), summed over the CPUs. */
    public synchronized long counter(int which) {
        if (closed) {
            return last[which];
        }
        key.set(JAVA_INT, 0, which);
        if (bpf.lookup(countersFd, key, perCpu) < 0) {
            return 0;
        }
        long sum = 0;
        for (int c = 0; c < cpus; c++) {
            sum += perCpu.get(JAVA_LONG, 8L * c);
        }
        return sum;
    }

    /**
     * Runs the program for {@code path} once on an Ethernet frame (BPF_PROG_TEST_RUN), for tests: no interface
     * needed.
     *
     * @return the verdict, as {@link TestResult}'s constants, and the frame the program left
     */
    public synchronized TestResult testRun(SynPath path, byte[] frame) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocate(frame.length, 8);
            in.copyFrom(MemorySegment.ofArray(frame));
            MemorySegment out = a.allocate(512, 8);
            // struct __sk_buff, whose priority the guard reads: 192 bytes, priority at 32.
            MemorySegment skb = path == SynPath.TC ? a.allocate(SKB_CONTEXT_BYTES, 8) : null;
            long r = bpf.testRun(path == SynPath.TC ? tcFd : xdpFd, in, out, skb, a);
            if (r < 0) {
                throw new IllegalStateException("BPF_PROG_TEST_RUN: " + errnoText((int) -r));
            }
            int length = (int) (r >>> 32);
            int verdict = (int) r;
            if (path == SynPath.TC) {
                // TC_ACT_UNSPEC -1 (TCX_NEXT: on to the next program, then on as usual), TC_ACT_SHOT 2,
                // TC_ACT_REDIRECT 7 (the reply sent back out).
                verdict = verdict == -1 ? TestResult.PASS : verdict == 2 ? TestResult.DROP
                        : verdict == 7 ? TestResult.TX : -verdict;
            }
            return new TestResult(verdict, out.asSlice(0, Math.min(length, 512)).toArray(JAVA_BYTE),
                    skb == null ? 0 : skb.get(JAVA_INT, SKB_PRIORITY));
        }
    }

    /**
     * What {@link #testRun} saw: with tc, {@code priority} is the skb's as the program left it (the guard's marks,
     * NftGuard's TAKEOVER_PRIORITY and KERNEL_SYN_PRIORITY); 0 with XDP.
     */
    public record TestResult(int verdict, byte[] frame, int priority) {
        public static final int DROP = 1;
        public static final int PASS = 2;
        public static final int TX = 3;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        detach();
        for (int c = 0; c < COUNTERS; c++) {
            last[c] = counter(c);
        }
        closed = true;
        bpf.close(object);
        arena.close();
    }
}
