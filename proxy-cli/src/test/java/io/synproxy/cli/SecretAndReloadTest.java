package io.synproxy.cli;

import io.synproxy.cookie.CookieSecrets;
import io.synproxy.cookie.SecretFile;
import io.synproxy.cookie.SecretSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code synproxy secret new}, {@code --secret-file} checks before start, and SIGHUP running the reload actions. */
class SecretAndReloadTest {
    @TempDir
    Path dir;

    private static String run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            Main.execute(args);
        } finally {
            System.setOut(old);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private Path privateFile(String text) throws Exception {
        Path f = Files.createTempFile(dir, "secret", "");
        Files.writeString(f, text);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        return f;
    }

    @Test
    void shouldPrintAFreshSecretInTheFileFormat() throws Exception {
        String one = run("secret", "new");
        String two = run("secret", "new");
        SecretFile.read(privateFile(one));
        assertTrue(!one.equals(two), "each secret is fresh");
    }

    @Test
    void shouldRefuseATooOpenSecretFileWithOneSentence() throws Exception {
        Path f = privateFile(SecretFile.newFileText());
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.execute("run", "--listen", "10.0.0.1:80", "--backend", "127.0.0.1:8080", "--secret-file",
                    f.toString());
        } finally {
            System.setErr(old);
        }
        String text = err.toString(StandardCharsets.UTF_8).trim();
        assertEquals(Main.EXIT_USAGE, code, text);
        assertEquals(1, text.lines().count(), text);
        assertTrue(text.contains("chmod 600"), text);
    }

    @Test
    void shouldRunTheReloadActionsOnSighupAndKeepOldSecretsForABadFile() throws Exception {
        Path f = privateFile(SecretFile.newFileText());
        SecretSource source = SecretSource.fromFile(f);
        CookieSecrets before = source.current();
        CountDownLatch reloaded = new CountDownLatch(2);
        StringWriter log = new StringWriter();
        PrintWriter logWriter = new PrintWriter(log, true);
        new Reloads(logWriter, logWriter).add("cookie secrets", source::reload).add("second", () -> {
            reloaded.countDown();
            return "second action";
        }).install();

        Files.writeString(f, "not a secret\n");
        new ProcessBuilder("kill", "-HUP", Long.toString(ProcessHandle.current().pid())).start().waitFor();
        awaitCount(reloaded, 1);
        assertSame(before, source.current(), "a bad file keeps the secrets in force");

        Files.writeString(f, SecretFile.newFileText());
        new ProcessBuilder("kill", "-HUP", Long.toString(ProcessHandle.current().pid())).start().waitFor();
        assertTrue(reloaded.await(10, TimeUnit.SECONDS), log.toString());
        assertNotSame(before, source.current());
        assertTrue(log.toString().contains("the secrets in force stay"), log.toString());
        assertTrue(log.toString().contains("cookie secrets re-read from"), log.toString());
    }

    private static void awaitCount(CountDownLatch latch, long count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (latch.getCount() > count && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
    }
}
