package io.synproxy.cli;

import io.synproxy.config.ConfigException;
import io.synproxy.config.ProxyConfig;
import io.synproxy.guard.NftGuard;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.util.concurrent.Callable;

/** {@code synproxy guard --remove --listen IP:PORT}: clears the table a killed proxy left behind. */
@Command(name = "guard", mixinStandardHelpOptions = true, versionProvider = ManifestVersion.class,
        description = "Remove the nftables guard a killed synproxy left behind (the port is closed until then).")
final class GuardCommand implements Callable<Integer> {
    @Option(names = "--remove", required = true, description = "Remove the guard table for --listen.")
    boolean remove;

    @Option(names = "--listen", required = true, paramLabel = "IP:PORT", description = "The --listen of the proxy that left it.")
    String listen;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        try {
            InetSocketAddress l = ProxyConfig.parseHostPort("--listen", listen);
            if (!(l.getAddress() instanceof Inet4Address v4)) {
                throw new ConfigException("--listen " + listen + " is not an IPv4 address");
            }
            boolean removed = NftGuard.removeStale(v4, l.getPort());
            spec.commandLine().getOut().println(removed
                    ? "synproxy: removed table inet " + NftGuard.tableName(v4, l.getPort())
                    : "synproxy: no guard table for " + listen + " was installed");
            return Main.EXIT_OK;
        } catch (ConfigException e) {
            spec.commandLine().getErr().println("synproxy: " + e.getMessage());
            return Main.EXIT_USAGE;
        } catch (NftGuard.GuardException e) {
            spec.commandLine().getErr().println("synproxy: " + e.getMessage());
            return Main.EXIT_FAILURE;
        }
    }
}
