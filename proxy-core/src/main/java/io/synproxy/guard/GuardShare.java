package io.synproxy.guard;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The guard tables shared by every synproxy instance protecting the same listens in one network namespace, as
 * during an upgrade in place: each instance installs them (an atomic replace, so no packet slips through), and
 * only the last one out removes them.
 *
 * <p>The count is kept by the kernel as POSIX record locks on one file, {@code /run/synproxy/net<inode>-<key>.lock}
 * ({@code SYNPROXY_RUN_DIR} overrides the directory): byte 0 is a mutex around installing and removing, byte 1
 * is held shared by every running instance. An instance leaving takes the mutex, drops its shared lock and tries
 * an exclusive one: it succeeds only when no other instance holds byte 1, and then removes the tables. A killed
 * instance's locks vanish with it, so the survivors still count right; when every instance was killed, the tables
 * stay (fail-closed) until {@code synproxy guard --remove}. The last instance out unlinks the file; a newcomer
 * that opened it just before checks, once it holds the mutex, that its file is still the one at the path.
 *
 * <p>The file's contents are the fingerprint of the cookie secret of the instance that wrote last
 * ({@link #recordSecret}): instances sharing the capture must share the secret, and a newcomer that finds another
 * fingerprint there says so.
 */
public final class GuardShare implements AutoCloseable {
    /** Where the lock files live unless {@code SYNPROXY_RUN_DIR} says otherwise. */
    public static final Path DEFAULT_DIR = Path.of("/run/synproxy");

    private static final long MUTEX = 0;
    private static final long MEMBERS = 1;
    /** More than a fingerprint's 16 hex digits: what a lock file holds beyond is not ours to read. */
    private static final int FINGERPRINT_BYTES = 64;

    private final List<NftGuard> guards;
    private final Path file;
    private final FileChannel channel;
    private FileLock member;
    private boolean removedGuards;

    private GuardShare(List<NftGuard> guards, Path file, FileChannel channel) {
        this.guards = guards;
        this.file = file;
        this.channel = channel;
    }

    /**
     * Installs {@code guards} (replacing identical tables another instance installed) and counts this instance
     * in. Blocks while another instance installs or removes them.
     */
    public static GuardShare join(List<NftGuard> guards) throws NftGuard.GuardException {
        return join(guards, runDir());
    }

    /** {@code SYNPROXY_RUN_DIR}, or {@link #DEFAULT_DIR}. */
    private static Path runDir() {
        String dir = System.getenv("SYNPROXY_RUN_DIR");
        return dir == null || dir.isBlank() ? DEFAULT_DIR : Path.of(dir);
    }

    /** {@link #join(List)} with the lock file in {@code dir}. */
    @SuppressWarnings("try") // the mutex is held for the block's duration, never referenced
    static GuardShare join(List<NftGuard> guards, Path dir) throws NftGuard.GuardException {
        Path file = lockFile(guards, dir);
        for (int attempt = 0; ; attempt++) {
            FileChannel channel;
            try {
                if (!Files.isDirectory(dir)) {
                    Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(
                            PosixFilePermissions.fromString("rwx------")));
                }
                channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE);
            } catch (IOException e) {
                throw new NftGuard.GuardException("cannot open the guard lock file " + file + ": " + e.getMessage());
            }
            GuardShare share = new GuardShare(guards, file, channel);
            try (FileLock mutex = channel.lock(MUTEX, 1, false)) {
                // The last instance out unlinks the file under the mutex: a lock on the unlinked one counts nobody.
                if (unlinked(file) && attempt < 10) {
                    share.closeQuietly();
                    continue;
                }
                for (NftGuard guard : guards) {
                    guard.install();
                }
                share.member = channel.lock(MEMBERS, 1, true);
            } catch (IOException e) {
                share.closeQuietly();
                throw new NftGuard.GuardException("cannot lock the guard lock file " + file + ": " + e.getMessage());
            } catch (NftGuard.GuardException e) {
                share.closeQuietly();
                throw e;
            }
            return share;
        }
    }

    /**
     * Whether a running instance (another process) holds these guards in this network namespace: an upgrade in place
     * is under way. False when unsure (no lock file, or it cannot be read).
     */
    public static boolean heldByAnother(List<NftGuard> guards) {
        Path file = lockFile(guards, runDir());
        if (!Files.exists(file)) {
            return false;
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            FileLock alone = channel.tryLock(MEMBERS, 1, false);
            if (alone == null) {
                return true;
            }
            alone.release();
            return false;
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether a descriptor of this process holds {@code file} after it was unlinked. */
    private static boolean unlinked(Path file) {
        String deleted = file + " (deleted)";
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                try {
                    if (Files.readSymbolicLink(fd).toString().equals(deleted)) {
                        return true;
                    }
                } catch (IOException ignored) {
                    // A descriptor closed meanwhile.
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    /** The lock file that counts the instances sharing these guards in this network namespace. */
    public Path file() {
        return file;
    }

    /** Whether this instance was the last out and removed the guards. */
    public synchronized boolean removedGuards() {
        return removedGuards;
    }

    /**
     * Writes {@code fingerprint} (of this instance's cookie secret: {@code CookieSecrets.fingerprint()}) into the
     * lock file, where the next instance to join compares its own with it.
     *
     * @return what the file held before: the fingerprint of the last instance that wrote one (a killed one's too),
     *         or "" when none did (a first instance, or a version before fingerprints)
     */
    @SuppressWarnings("try")
    public synchronized String recordSecret(String fingerprint) throws IOException {
        if (member == null) {
            return "";
        }
        try (FileLock mutex = channel.lock(MUTEX, 1, false)) {
            ByteBuffer before = ByteBuffer.allocate(FINGERPRINT_BYTES);
            channel.read(before, 0);
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(fingerprint.getBytes(StandardCharsets.US_ASCII)), 0);
            return new String(before.array(), 0, before.position(), StandardCharsets.US_ASCII).strip();
        }
    }

    /** Whether another running instance shares the guards (and so the capture); any thread. */
    @SuppressWarnings("try")
    public synchronized boolean othersPresent() {
        if (member == null) {
            return false;
        }
        try (FileLock mutex = channel.lock(MUTEX, 1, false)) {
            member.release();
            FileLock alone = channel.tryLock(MEMBERS, 1, false);
            if (alone != null) {
                alone.release();
            }
            member = channel.lock(MEMBERS, 1, true);
            return alone == null;
        } catch (IOException e) {
            // Unsure: say yes, which only makes the caller leave the capture early; the guard stays either way.
            return true;
        }
    }

    /**
     * Counts this instance out and removes the guards when it was the last; safe to call more than once.
     *
     * @return true when the guards were removed
     */
    @SuppressWarnings("try")
    public synchronized boolean leave() throws NftGuard.GuardException {
        if (member == null) {
            return false;
        }
        boolean removed = false;
        try (FileLock mutex = channel.lock(MUTEX, 1, false)) {
            member.release();
            member = null;
            FileLock last = channel.tryLock(MEMBERS, 1, false);
            if (last != null) {
                try {
                    for (NftGuard guard : guards) {
                        guard.remove();
                    }
                    removed = true;
                    Files.deleteIfExists(file);
                } finally {
                    last.release();
                }
            } else {
                for (NftGuard guard : guards) {
                    guard.forget();
                }
            }
        } catch (IOException e) {
            throw new NftGuard.GuardException("cannot lock the guard lock file " + file + ": " + e.getMessage());
        } finally {
            closeQuietly();
        }
        removedGuards = removed;
        return removed;
    }

    @Override
    public void close() throws NftGuard.GuardException {
        leave();
    }

    private void closeQuietly() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Closing releases the locks; nothing else to do.
        }
    }

    /** One lock file per network namespace and set of guard tables. */
    static Path lockFile(List<NftGuard> guards, Path dir) {
        StringBuilder key = new StringBuilder();
        for (NftGuard g : guards.stream().sorted((a, b) -> a.table().compareTo(b.table())).toList()) {
            key.append(g.table()).append('\n');
        }
        byte[] digest;
        try {
            digest = MessageDigest.getInstance("SHA-256").digest(key.toString().getBytes(StandardCharsets.US_ASCII));
        } catch (NoSuchAlgorithmException e) {
            // Every Java SE implementation must provide SHA-256.
            throw new AssertionError("SHA-256 unavailable", e);
        }
        String name = "net" + netnsInode() + "-" + HexFormat.of().formatHex(digest, 0, 8) + ".lock";
        return dir.resolve(name);
    }

    /** The inode of this process's network namespace ("net:[4026531840]"), or 0 when /proc does not say. */
    private static String netnsInode() {
        try {
            String link = Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString();
            return link.replaceAll("[^0-9]", "");
        } catch (IOException | UnsupportedOperationException e) {
            return "0";
        }
    }
}
