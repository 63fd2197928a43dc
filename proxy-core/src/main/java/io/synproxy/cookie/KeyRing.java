package io.synproxy.cookie;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * Two rotating 128-bit SipHash keys for SYN cookies, selected by a one-bit parity.
 *
 * <p>Time is cut into generations {@code g = floor(clock / period)}. The key of generation {@code g}
 * lives in slot {@code g & 1}; while the clock is in generation {@code g} the slots hold
 * {@code key(g)} and {@code key(g - 1)}. A cookie minted in generation {@code g} therefore verifies
 * during {@code g} and {@code g + 1}, and fails from {@code g + 2} on, once its slot holds {@code key(g + 2)}:
 * its lifetime is between one and two periods.
 *
 * <pre>
 *   clock in generation:   g-1        g          g+1        g+2        (g even)
 *   slot 0:                key(g-2)   key(g)     key(g)     key(g+2)
 *   slot 1:                key(g-1)   key(g-1)   key(g+1)   key(g+1)
 * </pre>
 *
 * <p>Keys are a pure function of the master secret and the generation, not of when or where the ring was
 * created: proxies (or threads) that share a master secret and a clock accept each other's cookies, and with a
 * configured (not {@link #random random}) secret a restart does not invalidate cookies in flight.
 *
 * <p>Derivation: the master key {@code (mk0, mk1)} is the first 16 bytes of
 * {@code SHA-256("synproxy cookie master v1" || 0x00 || masterSecret)}, computed once;
 * then {@code key(g) = (SipHash24(mk, KDF_LABEL, g, 0), SipHash24(mk, KDF_LABEL, g, 1))}.
 *
 * <p><strong>Not thread-safe.</strong> {@link #currentParity()} and {@link #refresh()} rewrite the slots
 * without synchronisation, so an instance must be confined to one thread, typically one per event loop.
 * That is cheap: instances built from the same master secret derive identical keys.
 */
public final class KeyRing {

    /** Shortest accepted master secret: the key it protects is 128 bits. */
    public static final int MIN_SECRET_BYTES = 16;
    /** Longest accepted master secret. */
    public static final int MAX_SECRET_BYTES = 64;

    private static final byte[] MASTER_LABEL = "synproxy cookie master v1\0".getBytes(StandardCharsets.US_ASCII);
    /** "synKDFv1" as a little-endian word; keeps generation keys apart from any other use of the master key. */
    private static final long KDF_LABEL = 0x3176_4644_4b6e_7973L;
    private static final int RANDOM_SECRET_BYTES = 32;

    private final long mk0;
    private final long mk1;
    private final long periodMillis;
    private final LongSupplier clockMillis;

    private final long[] k0 = new long[2];
    private final long[] k1 = new long[2];
    /** Generation the slots were last filled for. */
    private long generation;

    /**
     * @param masterSecret 16..64 secret bytes; only a digest is kept, the caller may wipe the array afterwards
     * @param periodMillis generation length in milliseconds, > 0
     * @param clockMillis  wall-clock milliseconds; must agree between proxies that share the secret
     */
    public KeyRing(byte[] masterSecret, long periodMillis, LongSupplier clockMillis) {
        Objects.requireNonNull(masterSecret, "masterSecret");
        if (masterSecret.length < MIN_SECRET_BYTES || masterSecret.length > MAX_SECRET_BYTES) {
            throw new IllegalArgumentException("master secret must be " + MIN_SECRET_BYTES + ".."
                    + MAX_SECRET_BYTES + " bytes, got " + masterSecret.length);
        }
        if (periodMillis <= 0) {
            throw new IllegalArgumentException("period must be positive: " + periodMillis);
        }
        this.periodMillis = periodMillis;
        this.clockMillis = Objects.requireNonNull(clockMillis, "clockMillis");

        byte[] digest = sha256(MASTER_LABEL, masterSecret);
        ByteBuffer le = ByteBuffer.wrap(digest).order(ByteOrder.LITTLE_ENDIAN);
        this.mk0 = le.getLong(0);
        this.mk1 = le.getLong(8);
        Arrays.fill(digest, (byte) 0);

        fill(generationAt(clockMillis.getAsLong()));
    }

    /** A ring with a fresh 32-byte master secret from {@link SecureRandom}; its cookies are private to it. */
    public static KeyRing random(long periodMillis, LongSupplier clockMillis) {
        byte[] secret = new byte[RANDOM_SECRET_BYTES];
        new SecureRandom().nextBytes(secret);
        try {
            return new KeyRing(secret, periodMillis, clockMillis);
        } finally {
            Arrays.fill(secret, (byte) 0);
        }
    }

    /**
     * Brings the slots up to date with the clock and returns the parity ({@code 0} or {@code 1}) of the
     * current generation, i.e. the slot to mint new cookies with. Cheap unless the generation changed.
     */
    public int currentParity() {
        refresh();
        return (int) (generation & 1);
    }

    /** Brings the slots up to date with the clock. */
    public void refresh() {
        long g = generationAt(clockMillis.getAsLong());
        if (g != generation) {
            fill(g);
        }
    }

    /** First half of the key in slot {@code parity} (0 or 1), as of the last refresh. */
    public long k0(int parity) {
        return k0[parity];
    }

    /** Second half of the key in slot {@code parity} (0 or 1), as of the last refresh. */
    public long k1(int parity) {
        return k1[parity];
    }

    private long generationAt(long nowMillis) {
        return Math.floorDiv(nowMillis, periodMillis);
    }

    /**
     * Rewrites both slots, not just the new one: after a jump of several generations (or the clock
     * stepping back) the other slot must hold key(g - 1), not whatever was there before.
     */
    private void fill(long g) {
        int cur = (int) (g & 1);
        int prev = cur ^ 1;
        k0[cur] = SipHash.hash24(mk0, mk1, KDF_LABEL, g, 0);
        k1[cur] = SipHash.hash24(mk0, mk1, KDF_LABEL, g, 1);
        k0[prev] = SipHash.hash24(mk0, mk1, KDF_LABEL, g - 1, 0);
        k1[prev] = SipHash.hash24(mk0, mk1, KDF_LABEL, g - 1, 1);
        generation = g;
    }

    private static byte[] sha256(byte[] label, byte[] secret) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            // Every Java SE implementation must provide SHA-256.
            throw new AssertionError("SHA-256 unavailable", e);
        }
        md.update(label);
        md.update(secret);
        return md.digest();
    }
}
