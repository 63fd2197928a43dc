package io.synproxy.cookie;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Objects;

/**
 * A master secret reduced to the 128-bit SipHash key that per-period cookie keys are derived from.
 *
 * <p>{@code (mk0, mk1)} is the first 16 bytes of {@code SHA-256("synproxy cookie master v1" || 0x00 || secret)},
 * computed once; the generation keys are then {@code key(g) = (SipHash24(mk, KDF_LABEL, g, 0),
 * SipHash24(mk, KDF_LABEL, g, 1))}: a keyed derivation over the period index, the same on every instance that
 * holds the same secret, and nothing about the master follows from a period key.
 */
public final class MasterKey {
    /** Shortest accepted master secret: the key it protects is 128 bits. */
    public static final int MIN_SECRET_BYTES = 16;
    /** Longest accepted master secret. */
    public static final int MAX_SECRET_BYTES = 64;
    /** Length of a secret drawn by {@link #random()} and {@code synproxy secret new}. */
    public static final int RANDOM_SECRET_BYTES = 32;

    private static final byte[] MASTER_LABEL = "synproxy cookie master v1\0".getBytes(StandardCharsets.US_ASCII);
    /** "synKDFv1" as a little-endian word; keeps generation keys apart from any other use of the master key. */
    private static final long KDF_LABEL = 0x3176_4644_4b6e_7973L;
    /** "synFPRv1": the label of {@link #fingerprint()}, apart from every generation key. */
    private static final long FINGERPRINT_LABEL = 0x3176_5250_466e_7973L;

    private final long mk0;
    private final long mk1;

    private MasterKey(long mk0, long mk1) {
        this.mk0 = mk0;
        this.mk1 = mk1;
    }

    /**
     * @param secret 16..64 secret bytes; only a digest is kept, the caller may wipe the array afterwards
     * @throws IllegalArgumentException if the length is outside 16..64
     */
    public static MasterKey of(byte[] secret) {
        Objects.requireNonNull(secret, "secret");
        if (secret.length < MIN_SECRET_BYTES || secret.length > MAX_SECRET_BYTES) {
            throw new IllegalArgumentException("master secret must be " + MIN_SECRET_BYTES + ".."
                    + MAX_SECRET_BYTES + " bytes, got " + secret.length);
        }
        byte[] digest = sha256(secret);
        ByteBuffer le = ByteBuffer.wrap(digest).order(ByteOrder.LITTLE_ENDIAN);
        MasterKey key = new MasterKey(le.getLong(0), le.getLong(8));
        Arrays.fill(digest, (byte) 0);
        return key;
    }

    /** A key from {@link #RANDOM_SECRET_BYTES} fresh bytes of {@link SecureRandom}: private to whoever holds it. */
    public static MasterKey random() {
        byte[] secret = randomSecret();
        try {
            return of(secret);
        } finally {
            Arrays.fill(secret, (byte) 0);
        }
    }

    /** {@link #RANDOM_SECRET_BYTES} fresh bytes of {@link SecureRandom}. */
    public static byte[] randomSecret() {
        byte[] secret = new byte[RANDOM_SECRET_BYTES];
        new SecureRandom().nextBytes(secret);
        return secret;
    }

    /**
     * A value that tells two master keys apart and reveals nothing of either: SipHash of a label of its own under the
     * key, as the generation keys are. Instances on one host compare it to find out whether they share a secret.
     */
    public long fingerprint() {
        return SipHash.hash24(mk0, mk1, FINGERPRINT_LABEL, 0, 0);
    }

    /** First half of the key of generation {@code g}. */
    long k0(long g) {
        return SipHash.hash24(mk0, mk1, KDF_LABEL, g, 0);
    }

    /** Second half of the key of generation {@code g}. */
    long k1(long g) {
        return SipHash.hash24(mk0, mk1, KDF_LABEL, g, 1);
    }

    private static byte[] sha256(byte[] secret) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            // Every Java SE implementation must provide SHA-256.
            throw new AssertionError("SHA-256 unavailable", e);
        }
        md.update(MASTER_LABEL);
        md.update(secret);
        return md.digest();
    }
}
