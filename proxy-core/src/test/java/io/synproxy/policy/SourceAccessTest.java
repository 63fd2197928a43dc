package io.synproxy.policy;

import io.synproxy.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SourceAccessTest {
    @TempDir
    Path dir;

    private static boolean permits(SourceAccess a, String address) {
        long[] k = PrefixSetTest.key(address);
        return a.permits(k[0], k[1]);
    }

    @Test
    void shouldPermitEveryoneWithoutLists() {
        SourceAccess a = SourceAccess.open();
        assertFalse(a.restricts());
        assertTrue(permits(a, "203.0.113.9"));
        assertTrue(permits(a, "2001:db8::9"));
    }

    @Test
    void shouldRefuseDeniedSourcesOnly() throws ConfigException {
        SourceAccess a = SourceAccess.load(List.of("203.0.113.0/24", "2001:db8::/32"), List.of(), List.of(), List.of());
        assertTrue(a.restricts());
        assertFalse(permits(a, "203.0.113.9"));
        assertFalse(permits(a, "2001:db8::9"));
        assertTrue(permits(a, "198.51.100.1"));
    }

    @Test
    void shouldAnswerOnlyAllowedSourcesAndLetDenyWin() throws ConfigException {
        SourceAccess a = SourceAccess.load(List.of("10.0.0.7"), List.of("10.0.0.0/24"), List.of(), List.of());
        assertTrue(permits(a, "10.0.0.1"));
        assertFalse(permits(a, "10.0.0.7"), "deny wins over allow");
        assertFalse(permits(a, "10.0.1.1"), "not on the allow list");
    }

    @Test
    void shouldReadFilesAndReloadThemWhole() throws IOException, ConfigException {
        Path deny = Files.writeString(dir.resolve("deny.txt"), "# bad networks\n10.0.0.0/24\n");
        Path allow = Files.writeString(dir.resolve("allow.txt"), "10.0.0.0/8 # all of us\n");
        SourceAccess a = SourceAccess.load(List.of(), List.of(), List.of(deny), List.of(allow));
        assertFalse(permits(a, "10.0.0.1"));
        assertTrue(permits(a, "10.0.1.1"));

        Files.writeString(deny, "10.0.1.0/24\n");
        a.reload();
        assertTrue(permits(a, "10.0.0.1"));
        assertFalse(permits(a, "10.0.1.1"));
    }

    @Test
    void shouldKeepTheOldListsWhenAReloadFindsABadLine() throws IOException, ConfigException {
        Path deny = Files.writeString(dir.resolve("deny.txt"), "10.0.0.0/24\n");
        SourceAccess a = SourceAccess.load(List.of(), List.of(), List.of(deny), List.of());
        Files.writeString(deny, "10.0.1.0/24\n\n10.0.2.0/240\n");
        ConfigException e = assertThrows(ConfigException.class, a::reload);
        assertTrue(e.getMessage().contains("deny.txt line 3"), e.getMessage());
        assertFalse(permits(a, "10.0.0.1"), "old list in force");
        assertTrue(permits(a, "10.0.1.1"), "nothing of the bad file in force");
    }

    @Test
    void shouldSayWhichFileCannotBeRead() {
        Path missing = dir.resolve("missing.txt");
        ConfigException e = assertThrows(ConfigException.class,
                () -> SourceAccess.load(List.of(), List.of(), List.of(missing), List.of()));
        assertTrue(e.getMessage().contains("missing.txt cannot be read"), e.getMessage());
    }

    @Test
    void shouldNameTheOptionOfABadCidr() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> SourceAccess.load(List.of(), List.of("10.0.0.0/33"), List.of(), List.of()));
        assertTrue(e.getMessage().startsWith("--allow: "), e.getMessage());
    }
}
