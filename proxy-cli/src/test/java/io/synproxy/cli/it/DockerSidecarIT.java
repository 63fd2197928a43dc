package io.synproxy.cli.it;

import io.synproxy.testsupport.RequiresRoot;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The container image, for real: runs {@code docker/test.sh}, which builds docker/Dockerfile with podman,
 * runs it as a sidecar (connections, a spoofed SYN flood, kube play, compose, SIGTERM) and removes all it
 * made. Skipped without root or podman, except under CI ({@code CI=true}), where that is a failure
 * ({@link RequiresRoot}).
 */
@RequiresRoot(tools = {"podman", "runc", "mmdebstrap", "hping3", "curl"})
class DockerSidecarIT {
    private static final int TAIL = 40;

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void shouldBuildTheImageAndRunItAsASidecar() throws IOException, InterruptedException {
        Path repo = Path.of("").toAbsolutePath().getParent();
        Path script = repo.resolve("docker/test.sh");
        assertTrue(Files.isRegularFile(script), "no " + script);

        Process p = new ProcessBuilder("bash", script.toString()).directory(repo.toFile())
                .redirectErrorStream(true).start();
        Deque<String> tail = new ArrayDeque<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line = out.readLine(); line != null; line = out.readLine()) {
                System.out.println(line);
                tail.addLast(line);
                if (tail.size() > TAIL) {
                    tail.removeFirst();
                }
            }
        } finally {
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                // SIGTERM: the script's trap removes its containers, images and namespaces.
                p.destroy();
                if (!p.waitFor(2, TimeUnit.MINUTES)) {
                    p.destroyForcibly();
                    fail("docker/test.sh did not stop");
                }
            }
        }
        assertEquals(0, p.exitValue(), "docker/test.sh failed:\n" + String.join("\n", tail));
    }
}
