package io.synproxy.guard;

import io.synproxy.testsupport.BpfSource;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NftGuardTest {

    /**
     * Every SYN is dropped before a socket can accept it: {@code socket} matches TIME_WAIT sockets too, and a
     * TIME_WAIT answers a SYN of a reused tuple with its old ACK (then the client's RST, seen by conntrack, made
     * its final ACK invalid behind a DNAT: the host reset the client). Segments of sockets pass; the rest drops.
     */
    @Test
    void dropsEverySynBeforeTheSocketsAreAccepted() throws Exception {
        String ruleset = NftGuard.ruleset(InetAddress.getByName("10.0.0.1"), 8080);
        List<String> rules = ruleset.lines().map(String::strip).filter(l -> l.startsWith("ip daddr")).toList();
        assertEquals(List.of(
                "ip daddr 10.0.0.1 tcp dport 8080 tcp flags & (syn | ack) == syn drop",
                "ip daddr 10.0.0.1 tcp dport 8080 meta priority 5359:4e50 drop",
                "ip daddr 10.0.0.1 tcp dport 8080 socket transparent 0 accept",
                "ip daddr 10.0.0.1 tcp dport 8080 socket transparent 1 accept",
                "ip daddr 10.0.0.1 tcp dport 8080 counter drop"), rules);
        assertTrue(ruleset.contains("type filter hook input priority -150; policy accept;"), ruleset);
    }

    /**
     * {@code --handoff kernel}: the proxy's listener takes what comes from lo (no tc program there) and the SYNs the
     * program gives its TIME_WAIT priority; everything else as before.
     */
    @Test
    void letsTheKernelsHandoffReachItsListener() throws Exception {
        String ruleset = NftGuard.ruleset(InetAddress.getByName("10.0.0.1"), 8080, true);
        List<String> rules = ruleset.lines().map(String::strip).filter(l -> l.contains("tcp dport")).toList();
        assertEquals(List.of(
                "iif \"lo\" ip daddr 10.0.0.1 tcp dport 8080 accept",
                "ip daddr 10.0.0.1 tcp dport 8080 meta priority 5359:4e51 accept",
                "ip daddr 10.0.0.1 tcp dport 8080 tcp flags & (syn | ack) == syn drop",
                "ip daddr 10.0.0.1 tcp dport 8080 meta priority 5359:4e50 drop",
                "ip daddr 10.0.0.1 tcp dport 8080 socket transparent 0 accept",
                "ip daddr 10.0.0.1 tcp dport 8080 socket transparent 1 accept",
                "ip daddr 10.0.0.1 tcp dport 8080 counter drop"), rules);
        String[] majorMinor = NftGuard.KERNEL_SYN_PRIORITY.split(":");
        long priority = Long.parseLong(majorMinor[0], 16) << 16 | Long.parseLong(majorMinor[1], 16);
        assertEquals(BpfSource.define("KERNEL_SYN_PRIORITY"), priority);
    }

    @Test
    void wildcardGuardsDropSynsOfTheirFamilyToo() throws Exception {
        assertTrue(NftGuard.ruleset(InetAddress.getByName("0.0.0.0"), 80)
                .contains("meta nfproto ipv4 fib daddr type local tcp dport 80 tcp flags & (syn | ack) == syn drop\n"));
        assertTrue(NftGuard.ruleset(InetAddress.getByName("::"), 80)
                .contains("meta nfproto ipv6 fib daddr type local tcp dport 80 tcp flags & (syn | ack) == syn drop\n"));
    }

    /** The guard drops what the tc program marks: the same priority on both sides (major:minor, hex). */
    @Test
    void takeoverPriorityIsTheProgramsOwn() throws Exception {
        String[] majorMinor = NftGuard.TAKEOVER_PRIORITY.split(":");
        long priority = Long.parseLong(majorMinor[0], 16) << 16 | Long.parseLong(majorMinor[1], 16);
        assertEquals(BpfSource.define("TAKEOVER_PRIORITY"), priority);
    }
}
