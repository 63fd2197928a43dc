package io.synproxy.testsupport;

import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.opentest4j.TestAbortedException;

import java.util.ArrayList;
import java.util.List;

/**
 * What {@link RequiresRoot} checks before a test class runs: root and the tools. A missing one aborts the class
 * (reported as skipped), or fails it when the run must not skip (see {@link #mustRun()}).
 */
public final class Requirements implements BeforeAllCallback {
    /** Set by .ci/run and passed on by failsafe: every integration test must run. */
    public static final String REQUIRED_PROPERTY = "synproxy.it.required";

    @Override
    public void beforeAll(ExtensionContext context) {
        RequiresRoot needs = context.getRequiredTestClass().getAnnotation(RequiresRoot.class);
        String missing = missing(needs == null ? new String[0] : needs.tools());
        if (missing == null) {
            return;
        }
        String what = context.getRequiredTestClass().getSimpleName() + " cannot run: " + missing;
        if (mustRun()) {
            throw new AssertionError(what + " (CI=true or -D" + REQUIRED_PROPERTY + "=true: integration tests must run)");
        }
        throw new TestAbortedException(what);
    }

    /** Null when this JVM runs as root and every tool (and {@code ip}) is installed, else what is missing. */
    public static String missing(String... tools) {
        List<String> problems = new ArrayList<>();
        if (!"root".equals(System.getProperty("user.name"))) {
            problems.add("not root (user " + System.getProperty("user.name") + ")");
        }
        List<String> all = new ArrayList<>(List.of("ip"));
        all.addAll(List.of(tools));
        for (String tool : all) {
            if (!Shell.has(tool)) {
                problems.add(tool + " is not installed");
            }
        }
        return problems.isEmpty() ? null : String.join(", ", problems);
    }

    /** True in CI: the environment says {@code CI=true} or the build set {@value #REQUIRED_PROPERTY}. */
    public static boolean mustRun() {
        return "true".equalsIgnoreCase(System.getenv("CI")) || Boolean.getBoolean(REQUIRED_PROPERTY);
    }
}
