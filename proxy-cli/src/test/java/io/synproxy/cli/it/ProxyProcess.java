package io.synproxy.cli.it;

import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The packaged jar run as a user runs it: {@code java -jar synproxy.jar ...} inside the server
 * namespace. Its output goes to a file, not a pipe: Java's process reaper closes a child's pipe
 * at exit and a reader blocked on it can lose the last lines (the shutdown message).
 */
public final class ProxyProcess implements AutoCloseable {
    private static final Pattern STAT = Pattern.compile("(\\w+)=(\\d+)");
    private final Process process;
    private final Path log;

    private ProxyProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    public static Path jar() {
        Path jar = Path.of(System.getProperty("synproxy.jar", "target/synproxy.jar")).toAbsolutePath();
        if (!jar.toFile().isFile()) {
            throw new IllegalStateException(jar + " is missing: integration tests run after 'mvn package'");
        }
        return jar;
    }

    public static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** Starts {@code synproxy ARGS} in {@code ns}. */
    public static ProxyProcess start(TestNet net, String ns, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(java(), "-jar", jar().toString()));
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile("synproxy-it-", ".log");
        // Also for a proxy a test killed and never closed: the file goes when the test JVM ends.
        log.toFile().deleteOnExit();
        return new ProxyProcess(net.start(ns, ProcessBuilder.Redirect.to(log.toFile()), cmd.toArray(String[]::new)), log);
    }

    private List<String> lines() {
        try {
            return Files.readAllLines(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Waits for a line containing {@code text}; returns it, or null after the timeout or the process's end. */
    public String await(String text, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            boolean alive = process.isAlive();
            for (String line : lines()) {
                if (line.contains(text)) {
                    return line;
                }
            }
            if (!alive || System.nanoTime() > deadline) {
                return null;
            }
            Thread.sleep(50);
        }
    }

    public void awaitStarted() throws InterruptedException {
        if (await("synproxy: protecting", Duration.ofSeconds(30)) == null) {
            throw new AssertionError("proxy did not start; output:\n" + output());
        }
    }

    /** Waits for the next stats line printed after now and returns its counters. */
    public Map<String, Long> nextStats(Duration timeout) throws InterruptedException {
        int before = lines().size();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            List<String> now = lines();
            for (int i = before; i < now.size(); i++) {
                if (now.get(i).startsWith("stats:")) {
                    return parse(now.get(i));
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no stats line within " + timeout + "; output:\n" + output());
    }

    static Map<String, Long> parse(String line) {
        Map<String, Long> m = new TreeMap<>();
        Matcher mt = STAT.matcher(line);
        while (mt.find()) {
            m.put(mt.group(1), Long.parseLong(mt.group(2)));
        }
        return m;
    }

    public String output() {
        return String.join("\n", lines());
    }

    public Process process() {
        return process;
    }

    /** Sends SIGTERM and waits; returns the exit code, or -1 if it did not exit in time. */
    public int terminate(Duration timeout) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            return -1;
        }
        return process.exitValue();
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        try {
            Files.deleteIfExists(log);
        } catch (IOException ignored) {
            // A temp file; nothing else to do.
        }
    }
}
