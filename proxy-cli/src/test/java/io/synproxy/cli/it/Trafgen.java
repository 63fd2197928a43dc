package io.synproxy.cli.it;

import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A SYN flood from trafgen (netsniff-ng): spoofed random sources, ports and sequence numbers,
 * checksums computed per packet, written through a packet mmap TX ring from the client
 * namespace. Several times hping3's rate for the same CPU.
 */
final class Trafgen implements AutoCloseable {
    private final Process process;
    private final Path config;

    private Trafgen(Process process, Path config) {
        this.process = process;
        this.config = config;
    }

    static Trafgen synFlood(TestNet net) throws IOException {
        String mac = net.exec(net.serverNs(), "cat", "/sys/class/net/" + net.serverDev() + "/address").trim();
        String macBytes = "0x" + mac.replace(":", ", 0x");
        String cfg = "{\n"
                + "  " + macBytes + ", 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00,\n"
                + "  0x45, 0x00, const16(40), drnd(2), 0x40, 0x00, 64, 6, csumip(14, 33),\n"
                + "  drnd(4), 10, 200, 0, 1,\n"
                + "  drnd(2), const16(8080), drnd(4), const32(0), 0x50, 0x02, const16(64240), csumtcp(14, 34), const16(0)\n"
                + "}\n";
        Path config = Files.createTempFile("trafgen-", ".cfg");
        Files.writeString(config, cfg);
        Process p = net.start(net.clientNs(), ProcessBuilder.Redirect.DISCARD, "trafgen", "-o", net.clientDev(),
                "-i", config.toString(), "-P", "1", "-q");
        return new Trafgen(p, config);
    }

    boolean isAlive() {
        return process.isAlive();
    }

    @Override
    public void close() throws IOException {
        process.destroy();
        try {
            process.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process.destroyForcibly();
        Files.deleteIfExists(config);
    }
}
