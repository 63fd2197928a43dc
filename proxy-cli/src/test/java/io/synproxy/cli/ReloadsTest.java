package io.synproxy.cli;

import io.synproxy.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReloadsTest {
    @Test
    void shouldRunEveryActionAndReportAFailureWithoutStoppingTheOthers() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> ran = new ArrayList<>();
        Reloads reloads = new Reloads(new PrintWriter(out), new PrintWriter(err))
                .add("cookie secret", () -> {
                    ran.add("secret");
                    throw new ConfigException("secret.key line 1: too short");
                })
                .add("deny and allow lists", () -> {
                    ran.add("lists");
                    return "deny list 3 prefix(es)";
                });
        reloads.runAll();
        assertEquals(List.of("secret", "lists"), ran);
        assertTrue(out.toString().contains("deny and allow lists reloaded: deny list 3 prefix(es)"), out.toString());
        assertTrue(err.toString().contains("cookie secret not reloaded, the old one stays: secret.key line 1"),
                err.toString());
    }

    @Test
    void shouldInstallTheSignalHandlerOnThisJvm() {
        Reloads reloads = new Reloads(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()))
                .add("nothing", () -> "ok");
        assertTrue(reloads.install());
    }

    @Test
    @EnabledIf("nohupInstalled")
    void shouldSayInOneLineWhenSighupIsIgnoredFromTheStart() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder("nohup", java.toString(), "-cp", System.getProperty("java.class.path"),
                IgnoredSighupProbe.class.getName()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), output);
        assertTrue(output.contains("install=false"), output);
        assertTrue(output.contains("synproxy: SIGHUP is ignored in this process (started under nohup?)"), output);
    }

    static boolean nohupInstalled() {
        return Files.isExecutable(Path.of("/usr/bin/nohup")) || Files.isExecutable(Path.of("/bin/nohup"));
    }

    /** Run under nohup by the test above: installs the handler and prints what install() said. */
    static final class IgnoredSighupProbe {
        private IgnoredSighupProbe() {
        }

        public static void main(String[] args) {
            PrintWriter err = new PrintWriter(System.out, true);
            boolean installed = new Reloads(err, err).add("nothing", () -> "ok").install();
            System.out.println("install=" + installed);
        }
    }
}
