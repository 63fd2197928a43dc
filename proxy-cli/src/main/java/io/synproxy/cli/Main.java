package io.synproxy.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.time.Duration;

/** Entry point: {@code synproxy run ...}, {@code synproxy guard --remove ...}. */
@Command(name = "synproxy",
        mixinStandardHelpOptions = true,
        versionProvider = ManifestVersion.class,
        description = "SYN-flood mitigation proxy: stateless SYN cookies, TCP_REPAIR handoff, Netty relay.",
        subcommands = {RunCommand.class, GuardCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    public static final int EXIT_OK = 0;
    public static final int EXIT_FAILURE = 1;
    public static final int EXIT_USAGE = 2;

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required: run or guard");
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    public static int execute(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.registerConverter(Duration.class, new DurationConverter());
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            // Unexpected failures still end in one sentence, never a stack trace.
            commandLine.getErr().println("synproxy: " + ex);
            return EXIT_FAILURE;
        });
        return cli.execute(args);
    }
}
