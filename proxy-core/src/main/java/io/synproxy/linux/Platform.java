package io.synproxy.linux;

import java.io.IOException;
import java.io.Serial;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Checks once, at start, that this host can run synproxy, and says why not in one sentence
 * (the shape of Netty's {@code Epoll.ensureAvailability()}).
 */
public final class Platform {
    public static final int CAP_NET_ADMIN = 12;
    public static final int CAP_NET_RAW = 13;

    private Platform() {
    }

    /** Throws {@link UnavailableException} with a user-facing sentence when a requirement is missing. */
    public static void ensureAvailable() throws UnavailableException {
        String os = System.getProperty("os.name", "");
        if (!os.toLowerCase(Locale.ROOT).contains("linux")) {
            throw new UnavailableException("synproxy runs on Linux only (this is " + os + ")");
        }
        long caps = effectiveCapabilities();
        boolean raw = (caps & (1L << CAP_NET_RAW)) != 0;
        boolean admin = (caps & (1L << CAP_NET_ADMIN)) != 0;
        if (!raw || !admin) {
            String missing = !raw && !admin ? "CAP_NET_RAW and CAP_NET_ADMIN" : !raw ? "CAP_NET_RAW" : "CAP_NET_ADMIN";
            throw new UnavailableException("synproxy needs CAP_NET_RAW and CAP_NET_ADMIN and is missing " + missing
                    + ": run it as root or grant them (for example setcap or docker --cap-add)");
        }
    }

    /** The effective capability set of this process, from /proc/self/status; 0 if unreadable. */
    public static long effectiveCapabilities() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    return Long.parseUnsignedLong(line.substring(7).trim(), 16);
                }
            }
        } catch (IOException | NumberFormatException e) {
            return 0L;
        }
        return 0L;
    }

    /** Finds an executable on PATH and in the sbin directories root's PATH usually has. */
    public static Path findExecutable(String name) {
        String path = System.getenv().getOrDefault("PATH", "");
        String[] dirs = (path + ":/usr/sbin:/sbin:/usr/local/sbin:/usr/bin:/bin").split(":");
        for (String dir : dirs) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, name);
            if (Files.isExecutable(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    /** A requirement of the host is missing; the message is the one sentence to show the user. */
    public static final class UnavailableException extends Exception {
        @Serial
        private static final long serialVersionUID = 1L;

        public UnavailableException(String message) {
            super(message);
        }
    }
}
