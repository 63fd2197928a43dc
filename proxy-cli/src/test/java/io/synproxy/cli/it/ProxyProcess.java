package io.synproxy.cli.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The packaged jar run as a user runs it: {@code java -jar synproxy.jar ...} inside the server namespace. */
public final class ProxyProcess implements AutoCloseable {
    private static final Pattern STAT = Pattern.compile("(\\w+)=(\\d+)");
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final Thread reader;

    private ProxyProcess(Process process) {
        this.process = process;
        this.reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (lines) {
                        lines.add(line);
                        lines.notifyAll();
                    }
                }
            } catch (IOException ignored) {
                // Process ended.
            }
        }, "proxy-output");
        reader.setDaemon(true);
        reader.start();
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

    /** Starts {@code synproxy ARGS} in {@code ns}; waits for the start line or the process's end. */
    public static ProxyProcess start(TestNet net, String ns, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(java(), "-jar", jar().toString()));
        cmd.addAll(List.of(args));
        ProxyProcess p = new ProxyProcess(net.start(ns, ProcessBuilder.Redirect.PIPE, cmd.toArray(String[]::new)));
        return p;
    }

    /** Waits for a line containing {@code text}; returns it, or null after the timeout or process end. */
    public String await(String text, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines) {
            int seen = 0;
            while (true) {
                for (; seen < lines.size(); seen++) {
                    if (lines.get(seen).contains(text)) {
                        return lines.get(seen);
                    }
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || (!process.isAlive() && !reader.isAlive())) {
                    return null;
                }
                lines.wait(Math.max(1, Math.min(100, TimeUnit.NANOSECONDS.toMillis(left))));
            }
        }
    }

    public void awaitStarted() throws InterruptedException {
        if (await("synproxy: protecting", Duration.ofSeconds(30)) == null) {
            throw new AssertionError("proxy did not start; output:\n" + output());
        }
    }

    /** Waits for the next stats line printed after now and returns its counters. */
    public Map<String, Long> nextStats(Duration timeout) throws InterruptedException {
        int before;
        synchronized (lines) {
            before = lines.size();
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines) {
            while (System.nanoTime() < deadline) {
                for (int i = before; i < lines.size(); i++) {
                    if (lines.get(i).startsWith("stats:")) {
                        return parse(lines.get(i));
                    }
                }
                lines.wait(100);
            }
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
        synchronized (lines) {
            return String.join("\n", lines);
        }
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
        reader.join(2000);
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
    }
}
