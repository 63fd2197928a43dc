package io.synproxy.bench;

import io.synproxy.testsupport.Shell;
import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A flood from trafgen or hping3 running in the attacker's namespace. What it sent is the attacker interface's
 * {@code tx_packets} counter (nothing else sends from that host during a run).
 *
 * <p>trafgen: one process ({@code -P 1}), frames to the server's MAC, random source address (first octet 11 to
 * 126: never the bench's own 10/8 nor 127/8), port and sequence number, correct checksums. hping3:
 * {@code --flood --rand-source} (or {@code -i u<gap>} at a fixed rate), through the attacker's IP stack.
 */
final class ExternalFlood implements Flood {
    private final TestNet net;
    private final Process process;
    private final Path config;
    private final long sent0;

    private ExternalFlood(TestNet net, Process process, Path config, long sent0) {
        this.net = net;
        this.process = process;
        this.config = config;
        this.sent0 = sent0;
    }

    static ExternalFlood start(TestNet net, FloodGenerator generator, TxRingFlood.Kind kind, String atkMac,
                               String srvMac, String dstIp, int port, long pps, Path workDir) throws IOException {
        long sent0 = txPackets(net);
        List<String> cmd = new ArrayList<>();
        Path config = null;
        if (generator == FloodGenerator.TRAFGEN) {
            config = Files.createTempFile(workDir, "trafgen-", ".cfg");
            Files.writeString(config, trafgenConfig(kind, atkMac, srvMac, dstIp, port));
            cmd.addAll(List.of(Shell.bin("trafgen"), "-o", TestNet.SWITCHED_DEV, "-i", config.toString(), "-P", "1", "-q", "-C"));
            if (pps > 0) {
                cmd.addAll(List.of("-b", pps + "pps"));
            }
        } else {
            cmd.addAll(List.of(Shell.bin("hping3"), "-q", kind == TxRingFlood.Kind.SYN ? "-S" : "-A", "-p",
                    Integer.toString(port), "--rand-source"));
            cmd.addAll(pps > 0 ? List.of("-i", "u" + Math.max(1, 1_000_000 / pps)) : List.of("--flood"));
            cmd.add(dstIp);
        }
        Process p = net.start(net.attackerNs(), ProcessBuilder.Redirect.DISCARD, cmd.toArray(String[]::new));
        return new ExternalFlood(net, p, config, sent0);
    }

    static String trafgenConfig(TxRingFlood.Kind kind, String atkMac, String srvMac, String dstIp, int port) {
        String dst = String.join(", ", dstIp.split("\\."));
        boolean syn = kind == TxRingFlood.Kind.SYN;
        return "{\n"
                + "  " + macBytes(srvMac) + ", " + macBytes(atkMac) + ", 0x08, 0x00,\n"
                + "  0x45, 0x00, const16(40), drnd(2), 0x40, 0x00, 64, 6, csumip(14, 33),\n"
                + "  dinc(11, 126), drnd(3), " + dst + ",\n"
                + "  drnd(2), const16(" + port + "), drnd(4), " + (syn ? "const32(0)" : "drnd(4)") + ", 0x50, "
                + (syn ? "0x02" : "0x10") + ", const16(64240), csumtcp(14, 34), const16(0)\n"
                + "}\n";
    }

    private static String macBytes(String mac) {
        return "0x" + mac.trim().replace(":", ", 0x");
    }

    private static long txPackets(TestNet net) throws IOException {
        return Long.parseLong(net.exec(net.attackerNs(), Shell.bin("cat"), "/sys/class/net/" + TestNet.SWITCHED_DEV
                + "/statistics/tx_packets").trim());
    }

    @Override
    public long sent() {
        try {
            return txPackets(net) - sent0;
        } catch (IOException e) {
            return 0;
        }
    }

    @Override
    public long wrongFormat() {
        return 0;
    }

    @Override
    public void stop() {
        process.destroy();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
            if (config != null) {
                Files.deleteIfExists(config);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            // the work folder is the run's own; a left config file is harmless there
        }
    }
}
