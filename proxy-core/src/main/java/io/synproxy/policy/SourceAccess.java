package io.synproxy.policy;

import io.synproxy.config.ConfigException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The deny and allow lists: prefixes given on the command line plus those of the list files, re-read by
 * {@link #reload()} (SIGHUP). A denied source gets no SYN/ACK and its final ACKs are not verified; when an allow
 * list is given, only its sources are answered. Deny wins over allow.
 *
 * <p>The two sets are swapped together through one volatile reference, so the event loops see the old lists or
 * the new ones, never half of each; a reload that fails on any line keeps the old lists whole. Lookups are
 * allocation-free ({@link PrefixSet}).
 */
public final class SourceAccess {
    private final List<String> denyCidrs;
    private final List<String> allowCidrs;
    private final List<Path> denyFiles;
    private final List<Path> allowFiles;
    private volatile Lists lists;

    /**
     * The lists in force together.
     *
     * @param deny  the deny list (empty for none)
     * @param allow the allow list, or null for none
     */
    public record Lists(PrefixSet deny, PrefixSet allow) {
    }

    private SourceAccess(List<String> denyCidrs, List<String> allowCidrs, List<Path> denyFiles, List<Path> allowFiles,
                         Lists lists) {
        this.denyCidrs = denyCidrs;
        this.allowCidrs = allowCidrs;
        this.denyFiles = denyFiles;
        this.allowFiles = allowFiles;
        this.lists = lists;
    }

    /**
     * Reads every list once.
     *
     * @throws ConfigException naming the bad CIDR, or the file and line number of the bad line, or the unreadable file
     */
    public static SourceAccess load(List<String> denyCidrs, List<String> allowCidrs, List<Path> denyFiles,
                                    List<Path> allowFiles) throws ConfigException {
        List<String> d = List.copyOf(denyCidrs);
        List<String> a = List.copyOf(allowCidrs);
        List<Path> df = List.copyOf(denyFiles);
        List<Path> af = List.copyOf(allowFiles);
        return new SourceAccess(d, a, df, af, read(d, a, df, af));
    }

    /** Lists that deny and restrict nothing. */
    public static SourceAccess open() {
        return new SourceAccess(List.of(), List.of(), List.of(), List.of(), new Lists(PrefixSet.EMPTY, null));
    }

    /** True when the source may be answered: not denied, and allowed when there is an allow list. */
    public boolean permits(long hi, long lo) {
        Lists l = lists;
        return !l.deny.contains(hi, lo) && (l.allow == null || l.allow.contains(hi, lo));
    }

    /** Touches what {@link #permits} will read first for this source ({@link PrefixSet#touch}); 0 with no list. */
    public long touch(long hi, long lo) {
        Lists l = lists;
        long v = l.deny.touch(hi, lo);
        return l.allow == null ? v : v + l.allow.touch(hi, lo);
    }

    /** The lists in force now, both of one reload. */
    public Lists current() {
        return lists;
    }

    /** True when some list is in force (the front end may skip the lookup otherwise). */
    public boolean restricts() {
        Lists l = lists;
        return !l.deny.isEmpty() || l.allow != null;
    }

    /**
     * Re-reads the list files and puts the new lists in force, or, on any error, keeps the old ones.
     *
     * @return one sentence saying what is now in force
     * @throws ConfigException naming the file and line of the first bad line; the old lists stay
     */
    public String reload() throws ConfigException {
        Lists fresh = read(denyCidrs, allowCidrs, denyFiles, allowFiles);
        lists = fresh;
        return describe();
    }

    /** What is in force, in one sentence. */
    public String describe() {
        Lists l = lists;
        return "deny list " + l.deny.prefixes() + " prefix(es), "
                + (l.allow == null ? "no allow list" : "allow list " + l.allow.prefixes() + " prefix(es)");
    }

    private static Lists read(List<String> denyCidrs, List<String> allowCidrs, List<Path> denyFiles,
                              List<Path> allowFiles) throws ConfigException {
        PrefixSet deny = build("--deny", denyCidrs, denyFiles);
        boolean allowGiven = !allowCidrs.isEmpty() || !allowFiles.isEmpty();
        return new Lists(deny, allowGiven ? build("--allow", allowCidrs, allowFiles) : null);
    }

    private static PrefixSet build(String option, List<String> cidrs, List<Path> files) throws ConfigException {
        PrefixSet.Builder b = new PrefixSet.Builder();
        for (String c : cidrs) {
            try {
                b.add(PrefixSet.parseCidr(c));
            } catch (ConfigException e) {
                throw new ConfigException(option + ": " + e.getMessage());
            }
        }
        for (Path f : files) {
            List<String> lines;
            try {
                lines = Files.readAllLines(f);
            } catch (IOException | RuntimeException e) {
                throw new ConfigException(option + "-file " + f + " cannot be read: " + reason(e));
            }
            b.addAll(PrefixSet.parseLines(option + "-file " + f, new ArrayList<>(lines)));
        }
        return b.build();
    }

    private static String reason(Exception e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + " "
                + e.getMessage();
    }
}
