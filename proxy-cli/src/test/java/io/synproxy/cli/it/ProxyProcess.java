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
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged jar run as a user runs it: {@code java -jar synproxy.jar ...} inside the server
 * namespace. Its output goes to a file, not a pipe: Java's process reaper closes a child's pipe
 * at exit and a reader blocked on it can lose the last lines (the shutdown message).
 */
public final class ProxyProcess implements AutoCloseable {
    /** The test JVM's property naming the relay mode the proxies under test run in (unset: their default). */
    public static final String RELAY_MODE_PROPERTY = "it.relay.mode";
    private static final Pattern STAT = Pattern.compile("(\\w+)=(\\d+)");
    private static Path runDir;
    private final Process process;
    private final Path log;

    private ProxyProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** The lock-file directory shared by every proxy this JVM starts (so that two instances count each other). */
    static synchronized Path runDir() throws IOException {
        if (runDir == null) {
            Path dir = Files.createTempDirectory("synproxy-run-");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try (Stream<Path> files = Files.list(dir)) {
                    for (Path f : files.toList()) {
                        Files.deleteIfExists(f);
                    }
                    Files.deleteIfExists(dir);
                } catch (IOException ignored) {
                    // Gone already.
                }
            }));
            runDir = dir;
        }
        return runDir;
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
        return start((out, command) -> net.start(ns, out, command), args);
    }

    /** Starts {@code synproxy ARGS} through {@code launcher} (another topology's namespace). */
    public static ProxyProcess start(Launcher launcher, String... args) throws IOException {
        // The guard's lock files go to this JVM's own directory, not the host's /run/synproxy: a proxy a test kills
        // leaves its file behind, and the directory goes when the test JVM ends.
        List<String> cmd = new ArrayList<>(List.of("env", "SYNPROXY_RUN_DIR=" + runDir(), java()));
        String mode = System.getProperty(RELAY_MODE_PROPERTY, "");
        if (!mode.isBlank()) {
            // The relay ITs run once per relay mode (failsafe executions in pom.xml); data is checked by digest.
            cmd.add("-Dsynproxy.relay.mode=" + mode);
        }
        cmd.addAll(List.of("-jar", jar().toString()));
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile("synproxy-it-", ".log");
        // Also for a proxy a test killed and never closed: the file goes when the test JVM ends.
        log.toFile().deleteOnExit();
        return new ProxyProcess(launcher.start(ProcessBuilder.Redirect.to(log.toFile()), cmd.toArray(String[]::new)),
                log);
    }

    /** The counters of the last stats line printed (the final one once the proxy has stopped). */
    public Map<String, Long> lastStats() {
        List<String> all = lines();
        for (int i = all.size() - 1; i >= 0; i--) {
            if (all.get(i).startsWith("stats:")) {
                return parse(all.get(i));
            }
        }
        throw new AssertionError("no stats line; output:\n" + output());
    }

    /** Starts a command in some namespace, its output to {@code out}. */
    @FunctionalInterface
    public interface Launcher {
        Process start(ProcessBuilder.Redirect out, String... command) throws IOException;
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

    /** Waits for the start line; 90 s because a JVM start took up to 60 s on a host with load 30 on 2 cores. */
    public void awaitStarted() throws InterruptedException {
        awaitStarted(Duration.ofSeconds(90));
    }

    /** Waits up to {@code timeout} for the start line (a busy machine may start a JVM slowly). */
    public void awaitStarted(Duration timeout) throws InterruptedException {
        if (await("synproxy: protecting", timeout) == null) {
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

    /**
     * Checks that a bulk transfer between two stats lines ran in the relay mode under test: every direction
     * spliced when it is forced, none when copying is, and (the default) at least one for a stream of megabytes.
     */
    public static void assertBulkRelayMode(Map<String, Long> before, Map<String, Long> after, int directions) {
        long spliced = after.getOrDefault("spliced", 0L) - before.getOrDefault("spliced", 0L);
        switch (System.getProperty(RELAY_MODE_PROPERTY, "auto")) {
            case "splice" -> assertTrue(spliced >= directions, "directions spliced: " + spliced);
            case "copy" -> assertEquals(0, spliced, "directions spliced in copy mode");
            default -> assertTrue(spliced >= 1, "a bulk stream spliced in auto mode: " + spliced);
        }
    }

    public String output() {
        return String.join("\n", lines());
    }

    public Process process() {
        return process;
    }

    /** The proxy's JVM: the process itself, or its child where a launcher ({@code ip netns exec}) runs it. */
    public ProcessHandle jvm() {
        ProcessHandle p = process.toHandle();
        return p.info().command().orElse("").endsWith("java") ? p
                : p.descendants().filter(h -> h.info().command().orElse("").endsWith("java")).findFirst().orElse(p);
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
