package io.synproxy.cookie;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SecretFileTest {

    @TempDir
    Path dir;

    private static String b64(int bytes, int seed) {
        return Base64.getEncoder().encodeToString(KeyRingTest.secret(bytes, seed));
    }

    private Path write(String text, String perms) throws IOException {
        Path f = dir.resolve("secret");
        Files.writeString(f, text);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(perms));
        return f;
    }

    @Test
    void shouldReadTheActiveSecretAndSkipComments() throws Exception {
        CookieSecrets s = SecretFile.read(write("# comment\n\n  " + b64(32, 1) + "  \n", "rw-------"));
        assertNotNull(s.active());
        assertNull(s.validateOnly());
    }

    @Test
    void shouldGiveTheSameFingerprintForTheSameActiveSecretOnly() throws Exception {
        CookieSecrets one = SecretFile.read(write(b64(32, 1) + "\n", "rw-------"));
        CookieSecrets again = SecretFile.read(write(b64(32, 1) + "\n" + b64(16, 2) + "\n", "rw-------"));
        CookieSecrets other = SecretFile.read(write(b64(32, 3) + "\n", "rw-------"));
        assertEquals(16, one.fingerprint().length());
        assertEquals(one.fingerprint(), again.fingerprint(), "the validate-only secret does not count");
        assertNotEquals(one.fingerprint(), other.fingerprint());
        assertNotEquals(CookieSecrets.random().fingerprint(), CookieSecrets.random().fingerprint());
    }

    @Test
    void shouldReadASecondSecretAsValidateOnly() throws Exception {
        CookieSecrets s = SecretFile.read(write(b64(32, 1) + "\n" + b64(16, 2) + "\n", "r--------"));
        assertNotNull(s.validateOnly());
    }

    @Test
    void shouldRefuseAFileGroupOrOthersCanRead() throws Exception {
        for (String perms : new String[] {"rw-r-----", "rw----r--", "rw--w----"}) {
            Path f = write(b64(32, 1) + "\n", perms);
            SecretFile.SecretFileException e = assertThrows(SecretFile.SecretFileException.class,
                    () -> SecretFile.read(f));
            assertTrue(e.getMessage().contains("chmod 600"), e.getMessage());
        }
    }

    @Test
    void shouldRefuseASecretShorterThan128Bits() throws Exception {
        Path f = write(b64(15, 1) + "\n", "rw-------");
        SecretFile.SecretFileException e = assertThrows(SecretFile.SecretFileException.class, () -> SecretFile.read(f));
        assertTrue(e.getMessage().contains("120 bits"), e.getMessage());
    }

    @Test
    void shouldRefuseMalformedFiles() {
        assertThrows(SecretFile.SecretFileException.class, () -> SecretFile.parse("f", "# only a comment\n"));
        assertThrows(SecretFile.SecretFileException.class, () -> SecretFile.parse("f", "not base64 !!\n"));
        assertThrows(SecretFile.SecretFileException.class,
                () -> SecretFile.parse("f", b64(16, 1) + "\n" + b64(16, 2) + "\n" + b64(16, 3) + "\n"));
        assertThrows(SecretFile.SecretFileException.class, () -> SecretFile.parse("f", b64(65, 1)));
        assertThrows(SecretFile.SecretFileException.class, () -> SecretFile.read(dir.resolve("missing")));
    }

    @Test
    void shouldParseWhatSecretNewPrints() throws Exception {
        String text = SecretFile.newFileText();
        CookieSecrets s = SecretFile.read(write(text, "rw-------"));
        assertNull(s.validateOnly());
        // Two fresh secrets differ: their keys do.
        CookieSecrets t = SecretFile.parse("f", SecretFile.newFileText());
        assertTrue(s.active().k0(7) != t.active().k0(7));
    }

    @Test
    void shouldKeepTheSecretsInForceWhenAReloadFails() throws Exception {
        Path f = write(b64(32, 1) + "\n", "rw-------");
        SecretSource source = SecretSource.fromFile(f);
        CookieSecrets before = source.current();

        Files.writeString(f, "garbage!!\n");
        String said = source.reload();
        assertSame(before, source.current());
        assertTrue(said.contains("stay"), said);

        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        Files.writeString(f, b64(32, 2) + "\n");
        source.reload();
        assertSame(before, source.current());

        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        source.reload();
        assertEquals(SecretFile.parse("f", b64(32, 2)).active().k0(3), source.current().active().k0(3));
    }
}
