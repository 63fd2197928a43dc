package io.synproxy.guard;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One instance's view of the shared guard (no tables: nft needs root; UpgradeIT runs two processes with tables).
 * A second process is what the locks count, so the two-instance case is UpgradeIT's.
 */
class GuardShareTest {
    @TempDir
    Path dir;

    @Test
    void shouldCountItselfAloneAndRemoveTheLockFileWhenLastOut() throws Exception {
        GuardShare share = GuardShare.join(List.of(), dir);
        assertTrue(Files.exists(share.file()));
        assertFalse(share.othersPresent());
        assertFalse(share.othersPresent(), "asking twice keeps the membership");
        assertTrue(share.leave(), "alone, it was the last out");
        assertTrue(share.removedGuards());
        assertFalse(Files.exists(share.file()));
        assertFalse(share.leave(), "leaving twice does nothing");
    }

    @Test
    void shouldJoinAgainAfterTheLastOutUnlinkedTheFile() throws Exception {
        GuardShare first = GuardShare.join(List.of(), dir);
        first.leave();
        GuardShare second = GuardShare.join(List.of(), dir);
        assertTrue(Files.exists(second.file()));
        assertTrue(second.leave());
    }

    @Test
    void shouldHandTheLastRecordedSecretFingerprintToTheNext() throws Exception {
        // One JVM holds one lock on a file (OverlappingFileLockException): the second instance is UpgradeIT's.
        GuardShare share = GuardShare.join(List.of(), dir);
        assertEquals("", share.recordSecret("0123456789abcdef"), "nothing recorded before");
        assertEquals("0123456789abcdef", Files.readString(share.file()), "the fingerprint alone, no secret");
        assertEquals("0123456789abcdef", share.recordSecret("fedcba98"), "after a reload, what was in force");
        assertEquals("fedcba98", Files.readString(share.file()), "a shorter one replaces it whole");
        assertTrue(share.leave());
        assertEquals("", share.recordSecret("0123456789abcdef"), "after leaving, nothing to read or write");
    }

    @Test
    void shouldNameTheLockFileAfterTheNamespaceAndTheTables() throws Exception {
        Path one = GuardShare.lockFile(List.of(), dir);
        assertTrue(one.getFileName().toString().startsWith("net"));
        NftGuard g;
        try {
            g = NftGuard.forListen(InetAddress.getByName("10.0.0.1"), 80);
        } catch (NftGuard.GuardException e) {
            return;
        }
        assertNotEquals(one, GuardShare.lockFile(List.of(g), dir));
    }
}
