package io.synproxy.cli;

import picocli.CommandLine;

/** The version from the jar manifest (Implementation-Version), written by the build. */
final class ManifestVersion implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
        String v = Main.class.getPackage().getImplementationVersion();
        return new String[] {"synproxy " + (v == null ? "(development build)" : v),
                "Java " + Runtime.version() + ", " + System.getProperty("os.name") + " " + System.getProperty("os.arch")};
    }
}
