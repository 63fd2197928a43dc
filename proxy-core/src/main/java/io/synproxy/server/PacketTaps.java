package io.synproxy.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code --handoff kernel}'s trap: a packet socket of one protocol (IPv4 or IPv6) on the interface, or on every
 * interface, is served after IP's own handler ({@code ip_rcv}, {@code ipv6_rcv}), which then meets a packet still
 * shared with it and copies it; the copy has lost the request socket the tc program gave the final ACK, the listener
 * answers it with a RST, and the client is refused. A second synproxy with {@code --handoff repair} has such
 * sockets. Sockets of every protocol (tcpdump) are served before tc and do no harm. Read from
 * {@code /proc/net/packet}, which lists the packet sockets of the reader's network namespace.
 */
final class PacketTaps {
    private static final Path PACKET = Path.of("/proc/net/packet");
    private static final int ETH_P_IP = 0x0800;
    private static final int ETH_P_IPV6 = 0x86dd;

    private PacketTaps() {
    }

    /** How many running packet sockets take IPv4 or IPv6 on {@code ifindex} after IP does; 0 when unreadable. */
    static int afterIp(int ifindex) {
        try {
            return afterIp(Files.readString(PACKET), ifindex);
        } catch (IOException | SecurityException e) {
            return 0;
        }
    }

    /** As {@link #afterIp(int)}, from the file's text: "sk RefCnt Type Proto Iface R Rmem User Inode" rows. */
    static int afterIp(String packet, int ifindex) {
        int found = 0;
        for (String line : packet.lines().skip(1).toList()) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 6) {
                continue;
            }
            try {
                int proto = Integer.parseInt(f[3], 16);
                int iface = Integer.parseInt(f[4]);
                boolean running = f[5].equals("1");
                if (running && (proto == ETH_P_IP || proto == ETH_P_IPV6) && (iface == 0 || iface == ifindex)) {
                    found++;
                }
            } catch (NumberFormatException e) {
                // Not a row of sockets.
            }
        }
        return found;
    }
}
