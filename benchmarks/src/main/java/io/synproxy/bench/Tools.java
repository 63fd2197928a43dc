package io.synproxy.bench;

import io.synproxy.linux.Platform;

import java.nio.file.Path;

/** External commands by absolute path: root's sbin directories need not be on the caller's PATH. */
final class Tools {
    private Tools() {
    }

    /** The absolute path of {@code name} (PATH, then the sbin directories), or the bare name if not found. */
    static String bin(String name) {
        Path p = Platform.findExecutable(name);
        return p != null ? p.toString() : name;
    }

    static boolean has(String name) {
        return Platform.findExecutable(name) != null;
    }
}
