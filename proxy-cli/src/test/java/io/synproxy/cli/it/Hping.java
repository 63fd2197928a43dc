package io.synproxy.cli.it;

import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An hping3 flood with spoofed random sources from the client namespace, stopped with SIGINT so
 * that hping3 prints how many packets it sent.
 */
final class Hping implements AutoCloseable {
    private static final Pattern SENT = Pattern.compile("(\\d+) packets transmitted");
    private final Process process;
    private final Path log;
    private final long startNanos = System.nanoTime();
    private long sent = -1;
    private double seconds;

    private Hping(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** Floods the proxy's port with {@code flag} (-S, -A, -R, -F) for at most {@code seconds}. */
    static Hping flood(TestNet net, String flag, int seconds) throws IOException {
        Path log = Files.createTempFile("hping-", ".log");
        Process p = net.start(net.clientNs(), ProcessBuilder.Redirect.to(log.toFile()), "timeout", "-s", "INT",
                Integer.toString(seconds), "hping3", "--flood", "--rand-source", flag, "-p", "8080", TestNet.SERVER_IP);
        return new Hping(p, log);
    }

    boolean isAlive() {
        return process.isAlive();
    }

    Process process() {
        return process;
    }

    /** Stops the flood (SIGINT to hping3) and returns the packets it sent. */
    long stop() throws IOException, InterruptedException {
        if (sent >= 0) {
            return sent;
        }
        process.toHandle().descendants().forEach(h -> {
            try {
                new ProcessBuilder("kill", "-INT", Long.toString(h.pid())).start().waitFor(5, TimeUnit.SECONDS);
            } catch (IOException | InterruptedException ignored) {
                // It may have ended by itself.
            }
        });
        process.waitFor(15, TimeUnit.SECONDS);
        seconds = (System.nanoTime() - startNanos) / 1e9;
        String out = Files.readString(log, StandardCharsets.UTF_8);
        Matcher m = SENT.matcher(out);
        sent = m.find() ? Long.parseLong(m.group(1)) : 0;
        return sent;
    }

    /** Packets per second over the flood's life (after {@link #stop}). */
    long rate() {
        return seconds > 0 ? (long) (sent / seconds) : 0;
    }

    @Override
    public void close() throws IOException {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        Files.deleteIfExists(log);
    }
}
