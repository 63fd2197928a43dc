package io.synproxy.cookie;

import java.io.IOException;
import java.io.Serial;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * The {@code --secret-file} format: comment lines ({@code #}) and blank lines are ignored; the first secret line
 * is the active master secret, an optional second one only validates (see {@link CookieSecrets}). A secret is
 * base64 of 16 to 64 bytes. The file must not be readable or writable by group or others, as ssh requires of a
 * private key: whoever reads it can forge cookies.
 *
 * <pre>
 * # synproxy cookie secret
 * 3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
 * </pre>
 */
public final class SecretFile {
    /** Permission bits that let group or others near the secret. */
    private static final Set<PosixFilePermission> TOO_OPEN = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);
    private static final int MAX_FILE_BYTES = 4096;

    private SecretFile() {
    }

    /**
     * Reads and checks {@code file}.
     *
     * @throws SecretFileException with one sentence when the file is missing, too open, or malformed
     */
    public static CookieSecrets read(Path file) throws SecretFileException {
        byte[] raw;
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
            Set<PosixFilePermission> open = EnumSet.copyOf(TOO_OPEN);
            open.retainAll(perms);
            if (!open.isEmpty()) {
                throw new SecretFileException("secret file " + file + " is accessible by group or others ("
                        + PosixFilePermissions.toString(perms) + "): it must be private, chmod 600 " + file);
            }
            if (Files.size(file) > MAX_FILE_BYTES) {
                throw new SecretFileException("secret file " + file + " is larger than " + MAX_FILE_BYTES
                        + " bytes: it holds one or two secret lines");
            }
            raw = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new SecretFileException("secret file " + file + " does not exist: create it with "
                    + "'synproxy secret new > " + file + "' and chmod 600");
        } catch (IOException e) {
            throw new SecretFileException("cannot read secret file " + file + ": " + e.getMessage());
        }
        try {
            return parse(file.toString(), new String(raw, StandardCharsets.US_ASCII));
        } finally {
            Arrays.fill(raw, (byte) 0);
        }
    }

    /** Parses the file's text; {@code name} only appears in messages. */
    static CookieSecrets parse(String name, String text) throws SecretFileException {
        List<byte[]> secrets = new ArrayList<>();
        int lineNo = 0;
        try {
            for (String line : text.split("\n", -1)) {
                lineNo++;
                String t = line.strip();
                if (t.isEmpty() || t.startsWith("#")) {
                    continue;
                }
                if (secrets.size() == 2) {
                    throw new SecretFileException("secret file " + name + " line " + lineNo
                            + ": at most two secrets (the active one, then one that only validates)");
                }
                byte[] secret;
                try {
                    secret = Base64.getDecoder().decode(t);
                } catch (IllegalArgumentException e) {
                    throw new SecretFileException("secret file " + name + " line " + lineNo + " is not base64");
                }
                if (secret.length < MasterKey.MIN_SECRET_BYTES || secret.length > MasterKey.MAX_SECRET_BYTES) {
                    Arrays.fill(secret, (byte) 0);
                    throw new SecretFileException("secret file " + name + " line " + lineNo + " holds "
                            + secret.length * 8 + " bits: a secret must have " + MasterKey.MIN_SECRET_BYTES * 8
                            + " to " + MasterKey.MAX_SECRET_BYTES * 8 + " bits ('synproxy secret new' makes one)");
                }
                secrets.add(secret);
            }
            if (secrets.isEmpty()) {
                throw new SecretFileException("secret file " + name + " holds no secret: "
                        + "'synproxy secret new' prints one");
            }
            return new CookieSecrets(MasterKey.of(secrets.get(0)),
                    secrets.size() > 1 ? MasterKey.of(secrets.get(1)) : null);
        } finally {
            for (byte[] s : secrets) {
                Arrays.fill(s, (byte) 0);
            }
        }
    }

    /** A fresh secret in the file's format, as {@code synproxy secret new} prints it. */
    public static String newFileText() {
        byte[] secret = MasterKey.randomSecret();
        try {
            return "# synproxy cookie secret: keep this file mode 600 and the same on every instance of a fleet.\n"
                    + "# The first secret mints and validates cookies; a second line, if any, only validates.\n"
                    + Base64.getEncoder().encodeToString(secret) + "\n";
        } finally {
            Arrays.fill(secret, (byte) 0);
        }
    }

    /** The secret file cannot be used; the message is the sentence to show. */
    public static final class SecretFileException extends Exception {
        @Serial
        private static final long serialVersionUID = 1L;

        public SecretFileException(String message) {
            super(message);
        }
    }
}
