package io.synproxy.cli;

import io.synproxy.config.ConfigException;
import io.synproxy.config.ProxyConfig;
import io.synproxy.guard.NftGuard;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code synproxy guard --remove --listen IP:PORT}: clears the table a killed proxy left behind. */
@Command(name = "guard", mixinStandardHelpOptions = true, versionProvider = ManifestVersion.class,
        description = "Remove the nftables guard a killed synproxy left behind (the port is closed until then).")
final class GuardCommand implements Callable<Integer> {
    @Option(names = "--remove", required = true, description = "Remove the guard table for --listen.")
    boolean remove;

    @Option(names = "--listen", required = true, paramLabel = "IP:PORT",
            description = "A --listen of the proxy that left it (IPv6 as [addr]:port); repeat it for several.")
    List<String> listen;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        try {
            List<InetSocketAddress> listens = new ArrayList<>();
            for (String text : listen) {
                listens.add(ProxyConfig.parseHostPort("--listen", text));
            }
            for (int i = 0; i < listens.size(); i++) {
                InetSocketAddress l = listens.get(i);
                boolean removed = NftGuard.removeStale(l.getAddress(), l.getPort());
                spec.commandLine().getOut().println(removed
                        ? "synproxy: removed table inet " + NftGuard.tableName(l.getAddress(), l.getPort())
                        : "synproxy: no guard table for " + listen.get(i) + " was installed");
            }
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
