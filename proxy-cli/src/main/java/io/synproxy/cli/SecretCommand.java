package io.synproxy.cli;

import io.synproxy.cookie.SecretFile;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code synproxy secret new}: prints a fresh cookie secret in the {@code --secret-file} format. */
@Command(name = "secret", mixinStandardHelpOptions = true, versionProvider = ManifestVersion.class,
        description = "Cookie secrets shared by a fleet of synproxy instances (--secret-file).")
final class SecretCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required: secret new");
    }

    @Command(name = "new", mixinStandardHelpOptions = true,
            description = {"Print a fresh 256-bit secret in the --secret-file format.",
                "Write it to a file only root can read: (umask 077; synproxy secret new > /etc/synproxy/secret)"})
    int newSecret() {
        spec.commandLine().getOut().print(SecretFile.newFileText());
        spec.commandLine().getOut().flush();
        return Main.EXIT_OK;
    }
}
