package io.synproxy.testsupport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** External commands: found by absolute path (root's sbin need not be on PATH), run with a timeout. */
public final class Shell {
    private static final List<String> SBIN = List.of("/usr/local/sbin", "/usr/sbin", "/sbin");

    private Shell() {
    }

    /** The executable {@code name} on PATH or in the sbin directories, or null. */
    public static Path find(String name) {
        List<String> dirs = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            dirs.addAll(List.of(path.split(":")));
        }
        dirs.addAll(SBIN);
        for (String dir : dirs) {
            if (dir.isEmpty()) {
                continue;
            }
            Path p = Path.of(dir, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** The absolute path of {@code name}, or the bare name if not found (the start then fails with its name). */
    public static String bin(String name) {
        Path p = find(name);
        return p != null ? p.toString() : name;
    }

    public static boolean has(String name) {
        return find(name) != null;
    }

    /** Runs a command and returns its output; throws on a non-zero exit or after 120 s. */
    public static String sh(String... command) throws IOException {
        return shIn(null, command);
    }

    /** Runs a command, feeding {@code stdin} if not null; throws on a non-zero exit or after 120 s. */
    public static String shIn(String stdin, String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (stdin != null) {
            p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", command));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IOException("interrupted: " + String.join(" ", command));
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ": " + out.trim());
        }
        return out;
    }
}
