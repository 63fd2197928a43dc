package io.synproxy.testsupport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The BPF program's C source, for tests that tie a value the kernel side writes to the Java side that reads it
 * (the two are compiled apart: clang builds the program, javac the proxy).
 */
public final class BpfSource {
    /** The program's source, from proxy-core's directory (the working directory of its tests). */
    public static final Path PROGRAM = Path.of("src/main/bpf/synproxy_xdp.c");

    private BpfSource() {
    }

    /** The value of {@code #define name <number>} in {@link #PROGRAM}, decimal or 0x hex. */
    public static long define(String name) throws IOException {
        Matcher m = Pattern.compile("(?m)^#define\\s+" + Pattern.quote(name) + "\\s+(0[xX][0-9a-fA-F]+|\\d+)\\s*$")
                .matcher(Files.readString(PROGRAM));
        if (!m.find()) {
            throw new AssertionError("no numeric #define " + name + " in " + PROGRAM.toAbsolutePath());
        }
        String v = m.group(1);
        return v.startsWith("0x") || v.startsWith("0X") ? Long.parseLong(v.substring(2), 16) : Long.parseLong(v);
    }
}
