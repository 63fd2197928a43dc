package io.synproxy.cookie;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Cookies across instances that share a secret: clock skew, rotation of the master secret, reload. */
class FleetCookieTest {
    private static final long PERIOD = 60_000;
    private static final long SKEW = 5_000;
    private static final int SADDR = 0x0a000002;
    private static final int DADDR = 0x0a000001;

    @TempDir
    Path dir;

    private final AtomicLong clockA = new AtomicLong();
    private final AtomicLong clockB = new AtomicLong();

    private static SecretSource source(int seed) {
        return SecretSource.fixed(CookieSecrets.of(KeyRingTest.secret(32, seed)));
    }

    private static int mint(SynCookie c, int sport, int clientIsn) {
        return c.encode(SADDR, DADDR, sport, 80, clientIsn, 3, 7, true);
    }

    private static boolean accepts(SynCookie c, int sport, int clientIsn, int isn) {
        return c.verifyAck(SADDR, DADDR, sport, 80, clientIsn + 1, isn + 1 - 1, false) >= 0;
    }

    /** Share of 200 cookies minted by {@code a} that {@code b} accepts. */
    private static int accepted(SynCookie a, SynCookie b) {
        int ok = 0;
        for (int i = 0; i < 200; i++) {
            int clientIsn = i * 0x01000193;
            if (accepts(b, 1000 + i, clientIsn, mint(a, 1000 + i, clientIsn))) {
                ok++;
            }
        }
        return ok;
    }

    @Test
    void shouldAcceptCookiesOfAnInstanceWhoseClockIsAFewSecondsOffAtEveryPointOfThePeriod() {
        SecretSource shared = source(1);
        SynCookie a = new SynCookie(new KeyRing(shared, PERIOD, SKEW, clockA::get));
        SynCookie b = new SynCookie(new KeyRing(shared, PERIOD, SKEW, clockB::get));
        for (long offset : new long[] {-4_000, -1_000, 1_000, 4_000}) {
            for (long t = 10 * PERIOD - 8_000; t < 11 * PERIOD + 8_000; t += 250) {
                clockA.set(t + offset);
                clockB.set(t);
                assertEquals(200, accepted(a, b), "A off by " + offset + " ms, B at " + t);
                assertEquals(200, accepted(b, a), "B minting, A off by " + offset + " ms, B at " + t);
            }
        }
    }

    @Test
    void shouldRefuseTheNextGenerationWithoutTheSkewAllowance() {
        SecretSource shared = source(1);
        SynCookie ahead = new SynCookie(new KeyRing(shared, PERIOD, SKEW, clockA::get));
        SynCookie strict = new SynCookie(new KeyRing(shared, PERIOD, 0, clockB::get));
        clockB.set(11 * PERIOD - 2_000);
        clockA.set(11 * PERIOD + 1_000);
        // The test can fail: without the allowance a cookie from a clock 3 s ahead across the boundary is lost.
        assertEquals(0, accepted(ahead, strict));
        SynCookie tolerant = new SynCookie(new KeyRing(shared, PERIOD, SKEW, clockB::get));
        assertEquals(200, accepted(ahead, tolerant));
    }

    @Test
    void shouldStillExpireCookiesAfterTwoPeriods() {
        SecretSource shared = source(1);
        SynCookie a = new SynCookie(new KeyRing(shared, PERIOD, SKEW, clockA::get));
        clockA.set(10 * PERIOD + 100);
        int isn = mint(a, 999, 42);
        clockA.set(12 * PERIOD + 100);
        assertTrue(!accepts(a, 999, 42, isn));
    }

    @Test
    void shouldAcceptOtherSecretsOnlyThroughTheValidateOnlySecret() {
        SynCookie oldKey = new SynCookie(new KeyRing(source(1), PERIOD, SKEW, clockA::get));
        SynCookie newKey = new SynCookie(new KeyRing(source(2), PERIOD, SKEW, clockA::get));
        // The middle step of a rotation: active = new, validate-only = old.
        SecretSource both = SecretSource.fixed(new CookieSecrets(
                MasterKey.of(KeyRingTest.secret(32, 2)), MasterKey.of(KeyRingTest.secret(32, 1))));
        SynCookie rotating = new SynCookie(new KeyRing(both, PERIOD, SKEW, clockB::get));
        clockA.set(5 * PERIOD + 10);
        clockB.set(5 * PERIOD + 10);
        assertEquals(0, accepted(oldKey, newKey));
        assertEquals(200, accepted(oldKey, rotating));
        assertEquals(200, accepted(newKey, rotating));
        // What the rotating instance mints (with the new secret) an instance still on the first step accepts.
        SecretSource firstStep = SecretSource.fixed(new CookieSecrets(
                MasterKey.of(KeyRingTest.secret(32, 1)), MasterKey.of(KeyRingTest.secret(32, 2))));
        assertEquals(200, accepted(rotating, new SynCookie(new KeyRing(firstStep, PERIOD, SKEW, clockA::get))));
        assertEquals(0, accepted(rotating, oldKey));
    }

    @Test
    void shouldPickUpAReloadedFileAtTheNextPacket() throws Exception {
        Path f = dir.resolve("secret");
        String one = Base64.getEncoder().encodeToString(KeyRingTest.secret(32, 1));
        String two = Base64.getEncoder().encodeToString(KeyRingTest.secret(32, 2));
        Files.writeString(f, one + "\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        SecretSource file = SecretSource.fromFile(f);
        SynCookie proxy = new SynCookie(new KeyRing(file, PERIOD, SKEW, clockA::get));
        SynCookie peerOnTwo = new SynCookie(new KeyRing(source(2), PERIOD, SKEW, clockA::get));
        clockA.set(3 * PERIOD);
        assertEquals(0, accepted(peerOnTwo, proxy));

        Files.writeString(f, one + "\n" + two + "\n");
        file.reload();
        assertEquals(200, accepted(peerOnTwo, proxy));
    }

    @Test
    void shouldDeriveTheSameKeysFromTheSameSecretAndDifferentOnesPerPeriod() {
        MasterKey m = MasterKey.of(KeyRingTest.secret(16, 9));
        MasterKey same = MasterKey.of(KeyRingTest.secret(16, 9));
        assertEquals(m.k0(100), same.k0(100));
        assertEquals(m.k1(100), same.k1(100));
        assertTrue(m.k0(100) != m.k0(101));
        assertTrue(m.k0(100) != MasterKey.of(KeyRingTest.secret(16, 10)).k0(100));
    }
}
