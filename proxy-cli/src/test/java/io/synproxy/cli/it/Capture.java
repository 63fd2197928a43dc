package io.synproxy.cli.it;

import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** tcpdump in a namespace, writing a pcap file that {@link #packets} reads back as IPv4 packets. */
final class Capture implements AutoCloseable {
    private final Process process;
    private final Path pcap;
    private final Path log;

    private Capture(Process process, Path pcap, Path log) {
        this.process = process;
        this.pcap = pcap;
        this.log = log;
    }

    /** Captures {@code filter} on {@code dev} in {@code ns}; returns once tcpdump listens. */
    static Capture start(TestNet net, String ns, String dev, String filter) throws IOException, InterruptedException {
        Path pcap = Files.createTempFile("capture-", ".pcap");
        Path log = Files.createTempFile("capture-", ".log");
        Process p = net.start(ns, ProcessBuilder.Redirect.to(log.toFile()), "tcpdump", "-Z", "root", "-i", dev, "-nn", "-U",
                "-s", "256", "-w", pcap.toString(), filter);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!Files.readString(log).contains("listening on")) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                throw new IOException("tcpdump did not start: " + Files.readString(log));
            }
            Thread.sleep(20);
        }
        return new Capture(p, pcap, log);
    }

    /** The IPv4 packets captured so far (Ethernet headers stripped). */
    List<byte[]> packets() throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(pcap));
        List<byte[]> out = new ArrayList<>();
        if (b.remaining() < 24) {
            return out;
        }
        int magic = b.order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
            b.order(ByteOrder.BIG_ENDIAN);
        }
        b.position(24);
        while (b.remaining() >= 16) {
            b.getInt();
            b.getInt();
            int incl = b.getInt();
            b.getInt();
            if (b.remaining() < incl) {
                break;
            }
            byte[] frame = new byte[incl];
            b.get(frame);
            if (incl > 34 && frame[12] == 0x08 && frame[13] == 0x00) {
                byte[] ip = new byte[incl - 14];
                System.arraycopy(frame, 14, ip, 0, ip.length);
                out.add(ip);
            }
        }
        return out;
    }

    /** What was captured, for a failure message. */
    String describe() throws IOException {
        StringBuilder b = new StringBuilder("pcap " + Files.size(pcap) + " bytes;");
        for (byte[] p : packets()) {
            b.append(String.format(" %d>%d flags %02x len %d;", srcPort(p), dstPort(p), flags(p), payload(p)));
        }
        return b.append(" tcpdump: ").append(Files.readString(log).trim()).toString();
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
        Files.deleteIfExists(pcap);
        Files.deleteIfExists(log);
    }

    // Field readers for an IPv4 + TCP packet.
    static int ihl(byte[] p) {
        return (p[0] & 0x0f) * 4;
    }

    static int u16(byte[] p, int i) {
        return (p[i] & 0xff) << 8 | (p[i + 1] & 0xff);
    }

    static int u32(byte[] p, int i) {
        return u16(p, i) << 16 | u16(p, i + 2);
    }

    static int srcPort(byte[] p) {
        return u16(p, ihl(p));
    }

    static int dstPort(byte[] p) {
        return u16(p, ihl(p) + 2);
    }

    static int seq(byte[] p) {
        return u32(p, ihl(p) + 4);
    }

    static int ack(byte[] p) {
        return u32(p, ihl(p) + 8);
    }

    static int flags(byte[] p) {
        return p[ihl(p) + 13] & 0xff;
    }

    static int payload(byte[] p) {
        return u16(p, 2) - ihl(p) - ((p[ihl(p) + 12] & 0xf0) >>> 2);
    }
}
