package io.synproxy.cookie;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where the cookie master keys come from, shared by every loop's {@link KeyRing}: a random secret drawn at start,
 * or a {@link SecretFile} that {@link #reload()} re-reads (on SIGHUP). The rings pick up a reload at their next
 * packet, without dropping a connection: live connections never consult the keys again.
 */
public final class SecretSource {
    private final Path file;
    private volatile CookieSecrets secrets;

    private SecretSource(Path file, CookieSecrets secrets) {
        this.file = file;
        this.secrets = secrets;
    }

    /** A source whose secrets never change; {@link #reload()} keeps them. */
    public static SecretSource fixed(CookieSecrets secrets) {
        return new SecretSource(null, Objects.requireNonNull(secrets, "secrets"));
    }

    /** A random secret private to this process, as without {@code --secret-file}. */
    public static SecretSource random() {
        return fixed(CookieSecrets.random());
    }

    /**
     * The secrets of {@code file}, which {@link #reload()} re-reads.
     *
     * @throws SecretFile.SecretFileException with the sentence to show when the file is unusable
     */
    public static SecretSource fromFile(Path file) throws SecretFile.SecretFileException {
        return new SecretSource(file, SecretFile.read(file));
    }

    /** The secrets in force; read once per packet by each ring (a volatile read). */
    public CookieSecrets current() {
        return secrets;
    }

    /** The secret file, or null for a random or fixed secret. */
    public Path file() {
        return file;
    }

    /**
     * Re-reads the secret file; when it is unusable the secrets in force stay.
     *
     * @return one sentence saying what happened, for the log
     */
    public String reload() {
        try {
            return reloadOrThrow();
        } catch (SecretFile.SecretFileException e) {
            return e.getMessage() + "; the secrets in force stay";
        }
    }

    /**
     * Re-reads the secret file; when it is unusable the secrets in force stay and the reason is thrown.
     *
     * @return one sentence saying what is now in force, for the log
     */
    public String reloadOrThrow() throws SecretFile.SecretFileException {
        if (file == null) {
            return "no --secret-file: the cookie secret stays the random one of this process";
        }
        CookieSecrets fresh = SecretFile.read(file);
        secrets = fresh;
        return "cookie secrets re-read from " + file + (fresh.validateOnly() != null ? " (with a validate-only secret)" : "");
    }
}
