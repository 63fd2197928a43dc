package io.synproxy.frontend;

import io.synproxy.config.ProxyConfig;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.TreeSet;

/**
 * The PACKET_FANOUT group id of a proxy's capture rings, derived from what it captures (the interface and the
 * set of listens), not from the process: a second {@code synproxy run} with the same arguments in the same
 * network namespace joins the first one's group, so the kernel hashes every flow to exactly one ring of the
 * two processes and no frame falls between them while one starts or the other leaves.
 *
 * <p>A loop has two rings ({@link Segments}), so a proxy has two groups: {@link #id} for the SYN rings and
 * {@link #restId} for the others.
 *
 * <p>The kernel refuses (EINVAL) to add a ring whose fanout mode, flags, protocol or device differ from the
 * group's; {@link #refusal} turns that into the sentence to show.
 */
public final class FanoutGroup {
    private FanoutGroup() {
    }

    /** A 16-bit group id for rings on {@code ifindex} (0: every interface) capturing {@code listens}. */
    public static int id(int ifindex, List<InetSocketAddress> listens) {
        return hash("synproxy fanout v1|" + ifindex + "|" + listenKey(listens));
    }

    /**
     * The group id of the rings that take all but the SYNs ({@link Segments#REST}), never the same as {@link #id}'s:
     * in one group, a ring with the other filter would take a share of the flows and drop their other segments.
     */
    public static int restId(int ifindex, List<InetSocketAddress> listens) {
        int rest = hash("synproxy fanout rest v1|" + ifindex + "|" + listenKey(listens));
        return rest == id(ifindex, listens) ? rest ^ 1 : rest;
    }

    /**
     * The group id of the rings on the loopback interface ({@link Segments#LOCAL}), which serve clients on this host
     * when the listens' interface is another: never the same as {@link #id}'s or {@link #restId}'s.
     */
    public static int localId(int ifindex, List<InetSocketAddress> listens) {
        int syns = id(ifindex, listens);
        int rest = restId(ifindex, listens);
        int local = hash("synproxy fanout local v1|" + ifindex + "|" + listenKey(listens));
        for (int bit = 2; local == syns || local == rest; bit <<= 1) {
            local ^= bit;
        }
        return local;
    }

    private static String listenKey(List<InetSocketAddress> listens) {
        TreeSet<String> sorted = new TreeSet<>();
        for (InetSocketAddress l : listens) {
            sorted.add(ProxyConfig.text(l));
        }
        return String.join(",", sorted);
    }

    private static int hash(String key) {
        byte[] digest;
        try {
            digest = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.US_ASCII));
        } catch (NoSuchAlgorithmException e) {
            // Every Java SE implementation must provide SHA-256.
            throw new AssertionError("SHA-256 unavailable", e);
        }
        return (digest[0] & 0xff) << 8 | digest[1] & 0xff;
    }

    /** The sentence for a ring the kernel would not add to group {@code id}. */
    public static String refusal(int id) {
        return "cannot join PACKET_FANOUT group " + id + " of another synproxy on the same listens: it captures with "
                + "another mode, family or interface; start the new instance with the same --listen and --interface";
    }
}
