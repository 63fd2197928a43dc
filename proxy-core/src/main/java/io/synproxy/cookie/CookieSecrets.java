package io.synproxy.cookie;

import java.util.HexFormat;
import java.util.Objects;

/**
 * The master keys in force: the active one mints and validates cookies; the optional validate-only one is
 * tried, at the cost of one more hash, only when a final ACK fails under the active one. Rotating a fleet's
 * secret without a flag day: add the new secret as validate-only everywhere, then make it active everywhere
 * (the old one validate-only), then drop the old one after two key periods.
 *
 * @param active       mints and validates
 * @param validateOnly validates only, or null
 */
public record CookieSecrets(MasterKey active, MasterKey validateOnly) {

    public CookieSecrets {
        Objects.requireNonNull(active, "active");
    }

    /** One secret that mints and validates. */
    public static CookieSecrets of(byte[] secret) {
        return new CookieSecrets(MasterKey.of(secret), null);
    }

    /** The active key's {@link MasterKey#fingerprint()}, as 16 hex digits. */
    public String fingerprint() {
        return HexFormat.of().toHexDigits(active.fingerprint());
    }

    /** A fresh random secret, private to this process (no {@code --secret-file}). */
    public static CookieSecrets random() {
        return new CookieSecrets(MasterKey.random(), null);
    }
}
