package io.synproxy.server;

import io.synproxy.config.ProxyConfig;
import io.synproxy.frontend.TxRing;
import io.synproxy.handshake.Handshake;
import io.synproxy.linux.Native;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;

/**
 * What the host says, found once at start: the capture interface, its MTU and the MSS it allows per family, the
 * window scale the kernel would announce, and which families are protected; {@link #discover} also probes that
 * nothing else listens on the protected ports.
 *
 * @param ifindex the interface to capture on, 0 for every interface
 * @param interfaceDescription "interface eth0" or "all interfaces", for the start line
 * @param mtu the interface MTU (the smallest of those up, for every interface)
 * @param ourMss the MSS announced over IPv4 (MTU - 40, at least 536)
 * @param ourMss6 the MSS announced over IPv6 (MTU - 60, at least 1220)
 * @param windowScale the receive window shift Linux would announce itself
 * @param ipv4 whether an IPv4 address is protected
 * @param ipv6 whether an IPv6 address is protected
 * @param ports6 the protected IPv6 ports
 * @param txMac the interface's Ethernet address when replies may leave through a TX ring, else null
 * @param noTxRing why replies cannot use a TX ring (for the start line), or null when they can
 * @param loopbackIndex the loopback interface, captured as well for clients on this host (their segments to a
 *                      local address go through it, not through {@code ifindex}); 0 when the capture covers it
 */
public record HostFacts(int ifindex, String interfaceDescription, int mtu, int ourMss, int ourMss6, int windowScale,
                        boolean ipv4, boolean ipv6, int[] ports6, byte[] txMac, String noTxRing, int loopbackIndex) {
    public HostFacts {
        ports6 = ports6.clone();
        txMac = txMac == null ? null : txMac.clone();
    }

    /** The name of the captured interface ({@link #ifindex}); empty for every interface or when it is gone. */
    public String interfaceName() {
        try {
            NetworkInterface nif = ifindex == 0 ? null : NetworkInterface.getByIndex(ifindex);
            return nif == null ? "" : nif.getName();
        } catch (SocketException e) {
            return "";
        }
    }

    @Override
    public byte[] txMac() {
        return txMac == null ? null : txMac.clone();
    }

    @Override
    public int[] ports6() {
        return ports6.clone();
    }

    /**
     * Reads the facts for {@code config}; refuses a missing interface, a foreign listen address or a busy port. With
     * {@code sharedListens} another instance of synproxy with {@code --handoff kernel} runs on these listens (an
     * upgrade in place): its listening sockets hold the ports, and this instance's join them (SO_REUSEPORT).
     */
    public static HostFacts discover(ProxyConfig config, boolean sharedListens) throws StartupException {
        int ifindex;
        String description;
        int mtu;
        String noTxRing;
        byte[] txMac;
        int loopbackIndex;
        try {
            NetworkInterface nif;
            if (config.interfaceName() != null) {
                nif = NetworkInterface.getByName(config.interfaceName());
                if (nif == null || Native.interfaceIndex(config.interfaceName()) <= 0) {
                    throw new StartupException("interface " + config.interfaceName() + " does not exist");
                }
            } else {
                nif = listenInterface(config);
            }
            ifindex = nif == null ? 0 : nif.getIndex();
            int lo = Native.interfaceIndex("lo");
            loopbackIndex = ifindex != 0 && lo > 0 && ifindex != lo ? lo : 0;
            description = nif == null ? "all interfaces" : "interface " + nif.getName()
                    + (loopbackIndex != 0 ? " (and lo, for clients on this host)" : "");
            mtu = nif == null ? smallestMtu() : nif.getMTU();
            // Replies through a TX ring where frames are Ethernet; -Dsynproxy.txRing=false keeps the raw socket.
            noTxRing = Boolean.parseBoolean(System.getProperty("synproxy.txRing", "true"))
                    ? TxRing.unsuitable(nif) : "-Dsynproxy.txRing=false";
            txMac = noTxRing == null ? nif.getHardwareAddress() : null;
        } catch (SocketException e) {
            throw new StartupException("cannot read the network interfaces: " + e.getMessage());
        }
        if (!sharedListens) {
            ensurePortFree(config);
        }
        boolean ipv4 = config.listens().stream().anyMatch(l -> l.getAddress() instanceof Inet4Address);
        boolean ipv6 = config.listens().stream().anyMatch(l -> !(l.getAddress() instanceof Inet4Address));
        int[] ports6 = config.listens().stream().filter(l -> !(l.getAddress() instanceof Inet4Address))
                .mapToInt(InetSocketAddress::getPort).distinct().toArray();
        int ourMss = Math.max(536, Math.min(mtu, 65535) - 40);
        int ourMss6 = Math.max(Handshake.IPV6_DEFAULT_MSS, Math.min(mtu, 65535) - 60);
        return new HostFacts(ifindex, description, mtu, ourMss, ourMss6, kernelReceiveWindowScale(), ipv4, ipv6,
                ports6, txMac, noTxRing, loopbackIndex);
    }

    /**
     * The interface holding every listen address, or null (every interface) when a listen is a wildcard or the
     * addresses live on different interfaces.
     */
    private static NetworkInterface listenInterface(ProxyConfig config) throws SocketException, StartupException {
        NetworkInterface common = null;
        boolean any = false;
        for (InetSocketAddress l : config.listens()) {
            if (l.getAddress().isAnyLocalAddress()) {
                any = true;
                continue;
            }
            NetworkInterface nif = NetworkInterface.getByInetAddress(l.getAddress());
            if (nif == null) {
                throw new StartupException(l.getAddress().getHostAddress()
                        + " is not an address of this host: give --listen an address assigned to a local interface");
            }
            if (common != null && !common.equals(nif)) {
                any = true;
            }
            common = nif;
        }
        return any ? null : common;
    }

    /** Whether no socket but a TIME_WAIT holds any of the listens' ports (a listener does). */
    static boolean portsFree(ProxyConfig config) {
        for (InetSocketAddress l : config.listens()) {
            try {
                probe(l);
            } catch (IOException e) {
                return false;
            }
        }
        return true;
    }

    /** Binds a socket to {@code listen} and lets it go: fails where a listener holds the port. */
    private static void probe(InetSocketAddress listen) throws IOException {
        try (Socket probe = new Socket()) {
            // SO_REUSEADDR as any server uses: a listener still fails the bind, our own TIME_WAIT sockets from a
            // previous run (the handed-off sockets are bound to this port) do not.
            probe.setReuseAddress(true);
            probe.bind(listen);
        }
    }

    /** A listener already on the port would answer SYNs itself: refuse to start. */
    private static void ensurePortFree(ProxyConfig config) throws StartupException {
        for (InetSocketAddress l : config.listens()) {
            try {
                probe(l);
            } catch (IOException e) {
                if (String.valueOf(e.getMessage()).contains("Permission denied")) {
                    // EACCES: a port below 1024 without CAP_NET_BIND_SERVICE (a container that dropped it).
                    throw new StartupException("port " + ProxyConfig.text(l) + " is privileged and synproxy is missing "
                            + "CAP_NET_BIND_SERVICE: grant it too (docker --cap-add NET_BIND_SERVICE) or protect a port "
                            + "above 1023");
                }
                throw new StartupException("port " + ProxyConfig.text(l) + " is already in use by another socket: "
                        + "stop what listens there (the kernel would answer SYNs itself) or choose another port");
            }
        }
    }

    private static int smallestMtu() throws SocketException {
        int mtu = Integer.MAX_VALUE;
        for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (nif.isUp() && !nif.isLoopback() && nif.getMTU() > 0) {
                mtu = Math.min(mtu, nif.getMTU());
            }
        }
        return mtu == Integer.MAX_VALUE ? 1500 : mtu;
    }

    /** The receive window shift Linux would announce itself: ilog2(max(tcp_rmem[2], rmem_max)) - 15. */
    static int kernelReceiveWindowScale() {
        long space = 6L << 20;
        try {
            // Not Files.readString: on JDK 25 it returned only the first byte ("4") of these procfs files.
            String[] rmem = Files.readAllLines(Path.of("/proc/sys/net/ipv4/tcp_rmem")).getFirst().trim().split("\\s+");
            space = Long.parseLong(rmem[2]);
            space = Math.max(space,
                    Long.parseLong(Files.readAllLines(Path.of("/proc/sys/net/core/rmem_max")).getFirst().trim()));
        } catch (IOException | RuntimeException e) {
            // Keep the default of a stock kernel.
        }
        int log = 63 - Long.numberOfLeadingZeros(Math.max(space, 1));
        return Math.max(0, Math.min(14, log - 15));
    }
}
