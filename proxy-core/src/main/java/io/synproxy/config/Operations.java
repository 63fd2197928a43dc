package io.synproxy.config;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;

/**
 * The operator's controls: the Prometheus endpoint, the deny and allow lists, the per-source limits on proven
 * clients and the rate of RSTs to invalid final ACKs. Validated by {@link #validate()}, from {@link ProxyConfig}.
 *
 * @param metrics where {@code /metrics} is served, or {@code null} for no endpoint
 * @param deny CIDRs whose sources get no SYN/ACK
 * @param allow CIDRs that alone are answered when any allow CIDR or file is given
 * @param denyFiles files of deny CIDRs, one a line, re-read on SIGHUP
 * @param allowFiles files of allow CIDRs, re-read on SIGHUP
 * @param maxConnectionsPerSource live connections a source may hold; 0 for no limit
 * @param maxRatePerSource new connections a source may open a second; 0 for no limit
 * @param sourcePrefix4 the IPv4 prefix length that makes one source (32: each address)
 * @param sourcePrefix6 the IPv6 prefix length that makes one source (128: each address)
 * @param invalidAckRstRate RSTs a second, all loops together, to ACKs that complete no handshake; 0 for none
 */
public record Operations(
        InetSocketAddress metrics,
        List<String> deny,
        List<String> allow,
        List<Path> denyFiles,
        List<Path> allowFiles,
        int maxConnectionsPerSource,
        long maxRatePerSource,
        int sourcePrefix4,
        int sourcePrefix6,
        long invalidAckRstRate) {

    /**
     * RSTs a second to invalid final ACKs: enough for every real client whose cookie expired (each sends one ACK,
     * then fails at once), far too few for an ACK flood to make the proxy a reflector worth using.
     */
    public static final long DEFAULT_INVALID_ACK_RST_RATE = 1000;

    public Operations {
        deny = deny == null ? List.of() : List.copyOf(deny);
        allow = allow == null ? List.of() : List.copyOf(allow);
        denyFiles = denyFiles == null ? List.of() : List.copyOf(denyFiles);
        allowFiles = allowFiles == null ? List.of() : List.copyOf(allowFiles);
    }

    /** Nothing listed, no per-source limit, no endpoint, invalid final ACKs answered at the default rate. */
    public static Operations defaults() {
        return new Operations(null, List.of(), List.of(), List.of(), List.of(), 0, 0, 32, 128,
                DEFAULT_INVALID_ACK_RST_RATE);
    }

    /** True when a deny or allow list is given, inline or as a file (which SIGHUP may fill later). */
    public boolean listsSources() {
        return !deny.isEmpty() || !allow.isEmpty() || !denyFiles.isEmpty() || !allowFiles.isEmpty();
    }

    /** True when a per-source limit is set (the table is allocated only then). */
    public boolean limitsSources() {
        return maxConnectionsPerSource > 0 || maxRatePerSource > 0;
    }

    /** Checks the values; one sentence on the first wrong one. */
    public void validate() throws ConfigException {
        if (maxConnectionsPerSource < 0) {
            throw new ConfigException("--max-connections-per-source must not be negative (0 turns it off)");
        }
        if (maxRatePerSource < 0 || maxRatePerSource > 1_000_000_000L) {
            throw new ConfigException("--max-rate-per-source must be between 0 (off) and 1000000000/s");
        }
        if (sourcePrefix4 < 1 || sourcePrefix4 > 32 || sourcePrefix6 < 1 || sourcePrefix6 > 128) {
            throw new ConfigException("--source-prefix needs an IPv4 length of 1-32 and an IPv6 length of 1-128");
        }
        if (invalidAckRstRate < 0 || invalidAckRstRate > 1_000_000_000L) {
            throw new ConfigException("--invalid-ack-rst-rate must be between 0 (never) and 1000000000/s");
        }
    }

    /**
     * Parses a rate: {@code 100/s}, {@code 6000/m} or a bare number (a second).
     *
     * @return events a second, rounded down (at least 1 for a positive rate)
     */
    public static long parseRate(String option, String text) throws ConfigException {
        String t = text == null ? "" : text.trim();
        long per = 1;
        if (t.endsWith("/s")) {
            t = t.substring(0, t.length() - 2);
        } else if (t.endsWith("/m")) {
            t = t.substring(0, t.length() - 2);
            per = 60;
        }
        long n;
        try {
            n = Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new ConfigException(option + " '" + text + "' is not a rate such as 100/s or 6000/m");
        }
        if (n < 0) {
            throw new ConfigException(option + " '" + text + "' must not be negative");
        }
        return n == 0 ? 0 : Math.max(1, n / per);
    }

    /**
     * Parses {@code --source-prefix}: {@code /24,/64} (IPv4 length, IPv6 length; the slashes are optional), or one
     * length, applied to the family it fits ({@code /24} to IPv4, {@code /64} to IPv6, the other keeps its default).
     *
     * @return {@code {ipv4 length, ipv6 length}}
     */
    public static int[] parseSourcePrefix(String text) throws ConfigException {
        String t = text == null ? "" : text.trim();
        String[] parts = t.split(",", -1);
        try {
            if (parts.length == 2) {
                return new int[] {length(parts[0]), length(parts[1])};
            }
            if (parts.length == 1) {
                int n = length(parts[0]);
                return n <= 32 ? new int[] {n, 128} : new int[] {32, n};
            }
        } catch (NumberFormatException e) {
            // the sentence below
        }
        throw new ConfigException("--source-prefix '" + text + "' is not IPV4LEN,IPV6LEN such as /24,/64");
    }

    private static int length(String s) {
        String t = s.trim();
        return Integer.parseInt(t.startsWith("/") ? t.substring(1) : t);
    }
}
