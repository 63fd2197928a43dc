package io.synproxy.bench;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The JVM flags a user's synproxy runs with are written four times: the launcher, both images' entrypoints and the
 * bench's copy (so that it measures what users run). They must not drift apart; only the heap ceiling differs.
 */
class DaemonFlagsTest {
    private static final Path ROOT = Path.of("..");
    private static final Pattern FLAG = Pattern.compile("-XX:[^\\s\"\\\\)]+|-Xm[sx][^\\s\"\\\\)]+|-Xss[^\\s\"\\\\)]+");

    @Test
    void shouldRunTheLauncherTheImagesAndTheBenchWithTheSameJvmFlags() throws IOException {
        List<String> bench = withoutHeapCeiling(Relay.DAEMON_JVM_FLAGS);
        String launcher = Files.readString(ROOT.resolve("synproxy"));
        int start = launcher.indexOf("jvm=(-XX");
        assertFalse(start < 0, "the launcher's jvm=(...) array");
        assertEquals(bench, withoutHeapCeiling(flags(launcher.substring(start, launcher.indexOf(')', start)))),
                "./synproxy");
        for (String image : List.of("docker/Dockerfile", "docker/Dockerfile.jlink")) {
            String text = Files.readString(ROOT.resolve(image));
            int at = text.indexOf("ENTRYPOINT");
            assertFalse(at < 0, image + " has an ENTRYPOINT");
            List<String> entry = withoutHeapCeiling(flags(text.substring(at, text.indexOf(']', at))));
            entry.remove("-XX:+ExitOnOutOfMemoryError");
            assertEquals(bench, entry, image);
        }
    }

    private static List<String> flags(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = FLAG.matcher(text);
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    private static List<String> withoutHeapCeiling(List<String> flags) {
        List<String> out = new ArrayList<>(flags);
        out.removeIf(f -> f.startsWith("-Xmx"));
        return out;
    }
}
