package io.synproxy.cookie;

import java.security.SecureRandom;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * Two rotating 128-bit SipHash keys for SYN cookies, selected by a one-bit parity, plus the same two slots
 * under the validate-only master key when {@link CookieSecrets} has one.
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
 * <p>Clock skew between instances that share a secret: in the last {@code skew} milliseconds of generation
 * {@code g} the other slot already holds {@code key(g + 1)} instead of {@code key(g - 1)}, so an instance whose
 * clock runs up to {@code skew} ahead, already minting with {@code key(g + 1)}, is understood; one whose clock
 * lags is understood anyway, its generation being our previous one. The price is that cookies of {@code g - 1}
 * expire {@code skew} earlier; still one hash per key.
 *
 * <p>Keys are a pure function of the master secret and the generation (see {@link MasterKey}), not of when or
 * where the ring was created: proxies (or threads) that share a master secret and a clock accept each other's
 * cookies, and with a configured (not {@link #random random}) secret a restart does not invalidate cookies in
 * flight. The secrets come from a {@link SecretSource}; a reload there is picked up at the next refresh.
 *
 * <p><strong>Not thread-safe.</strong> {@link #currentParity()} and {@link #refresh()} rewrite the slots
 * without synchronisation, so an instance must be confined to one thread, typically one per event loop.
 * That is cheap: instances built from the same master secret derive identical keys.
 */
public final class KeyRing {

    /** Shortest accepted master secret: the key it protects is 128 bits. */
    public static final int MIN_SECRET_BYTES = MasterKey.MIN_SECRET_BYTES;
    /** Longest accepted master secret. */
    public static final int MAX_SECRET_BYTES = MasterKey.MAX_SECRET_BYTES;

    private final SecretSource source;
    private final long periodMillis;
    private final long skewMillis;
    private final LongSupplier clockMillis;

    private final long[] k0 = new long[2];
    private final long[] k1 = new long[2];
    private final long[] v0 = new long[2];
    private final long[] v1 = new long[2];
    private boolean validateOnly;
    /** The key of the generation after the current one, of the active secret and of the validate-only one. */
    private long nextK0;
    private long nextK1;
    private long nextV0;
    private long nextV1;
    /** Secrets the slots were last filled from. */
    private CookieSecrets secrets;
    /** Generation the slots were last filled for. */
    private long generation;
    /** Whether the other slot was last filled with the next generation's key (the skew window). */
    private boolean next;

    /**
     * A ring over one fixed secret and no skew allowance.
     *
     * @param masterSecret 16..64 secret bytes; only a digest is kept, the caller may wipe the array afterwards
     * @param periodMillis generation length in milliseconds, > 0
     * @param clockMillis  wall-clock milliseconds; must agree between proxies that share the secret
     */
    public KeyRing(byte[] masterSecret, long periodMillis, LongSupplier clockMillis) {
        this(SecretSource.fixed(CookieSecrets.of(masterSecret)), periodMillis, 0, clockMillis);
    }

    /**
     * @param source       the master keys, read again at each refresh (a volatile read)
     * @param periodMillis generation length in milliseconds, > 0
     * @param skewMillis   how far ahead another instance's clock may run, 0..period/2
     * @param clockMillis  wall-clock milliseconds; must agree within {@code skewMillis} between proxies that
     *                     share the secret
     */
    public KeyRing(SecretSource source, long periodMillis, long skewMillis, LongSupplier clockMillis) {
        this.source = Objects.requireNonNull(source, "source");
        if (periodMillis <= 0) {
            throw new IllegalArgumentException("period must be positive: " + periodMillis);
        }
        if (skewMillis < 0 || skewMillis > periodMillis / 2) {
            throw new IllegalArgumentException("skew must be 0.." + periodMillis / 2 + " ms: " + skewMillis);
        }
        this.periodMillis = periodMillis;
        this.skewMillis = skewMillis;
        this.clockMillis = Objects.requireNonNull(clockMillis, "clockMillis");
        long now = clockMillis.getAsLong();
        fill(source.current(), generationAt(now), inSkewWindow(now));
    }

    /** A ring with a fresh 32-byte master secret from {@link SecureRandom}; its cookies are private to it. */
    public static KeyRing random(long periodMillis, LongSupplier clockMillis) {
        return new KeyRing(SecretSource.random(), periodMillis, 0, clockMillis);
    }

    /**
     * Brings the slots up to date with the clock and returns the parity ({@code 0} or {@code 1}) of the
     * current generation, i.e. the slot to mint new cookies with. Cheap unless the generation changed.
     */
    public int currentParity() {
        refresh();
        return (int) (generation & 1);
    }

    /** Brings the slots up to date with the clock and the secret source. */
    public void refresh() {
        long now = clockMillis.getAsLong();
        long g = generationAt(now);
        boolean n = inSkewWindow(now);
        CookieSecrets s = source.current();
        if (g != generation || n != next || s != secrets) {
            fill(s, g, n);
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

    /**
     * First half of the active secret's key for the generation after the current one, as of the last refresh: what
     * the other slot will hold once the clock moves on. For a copy of the keys that lags the clock (the BPF
     * program's), so that it still accepts what this ring will accept.
     */
    public long nextK0() {
        return nextK0;
    }

    /** Second half of {@link #nextK0}'s key. */
    public long nextK1() {
        return nextK1;
    }

    /** {@link #nextK0} of the validate-only secret; meaningful only if {@link #hasValidateOnly}. */
    public long nextV0() {
        return nextV0;
    }

    /** {@link #nextK1} of the validate-only secret. */
    public long nextV1() {
        return nextV1;
    }

    /** Whether a validate-only secret is in force, as of the last refresh. */
    public boolean hasValidateOnly() {
        return validateOnly;
    }

    /** First half of the validate-only key in slot {@code parity}; meaningful only if {@link #hasValidateOnly}. */
    public long v0(int parity) {
        return v0[parity];
    }

    /** Second half of the validate-only key in slot {@code parity}. */
    public long v1(int parity) {
        return v1[parity];
    }

    private long generationAt(long nowMillis) {
        return Math.floorDiv(nowMillis, periodMillis);
    }

    private boolean inSkewWindow(long nowMillis) {
        return skewMillis > 0 && Math.floorMod(nowMillis, periodMillis) >= periodMillis - skewMillis;
    }

    /**
     * Rewrites both slots, not just the new one: after a jump of several generations (or the clock
     * stepping back) the other slot must hold key(g - 1), not whatever was there before.
     */
    private void fill(CookieSecrets s, long g, boolean n) {
        int cur = (int) (g & 1);
        int other = cur ^ 1;
        long otherGeneration = n ? g + 1 : g - 1;
        MasterKey a = s.active();
        k0[cur] = a.k0(g);
        k1[cur] = a.k1(g);
        k0[other] = a.k0(otherGeneration);
        k1[other] = a.k1(otherGeneration);
        nextK0 = a.k0(g + 1);
        nextK1 = a.k1(g + 1);
        MasterKey v = s.validateOnly();
        validateOnly = v != null;
        if (v != null) {
            v0[cur] = v.k0(g);
            v1[cur] = v.k1(g);
            v0[other] = v.k0(otherGeneration);
            v1[other] = v.k1(otherGeneration);
            nextV0 = v.k0(g + 1);
            nextV1 = v.k1(g + 1);
        }
        secrets = s;
        generation = g;
        next = n;
    }
}
