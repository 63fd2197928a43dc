package io.synproxy.cli;

import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.util.Locale;
import java.util.Map;

/**
 * Defaults from the environment, for containers: {@code --stats-interval} is read from
 * {@code SYNPROXY_STATS_INTERVAL}, {@code --listen} from {@code SYNPROXY_LISTEN} (several separated by
 * commas), and so on for every option. The command line wins; an unset or empty variable leaves the
 * option's own default.
 */
final class EnvironmentDefaults implements IDefaultValueProvider {
    static final String PREFIX = "SYNPROXY_";

    private final Map<String, String> environment;

    /** Reads the process environment (picocli creates the provider through this constructor). */
    EnvironmentDefaults() {
        this(System.getenv());
    }

    EnvironmentDefaults(Map<String, String> environment) {
        this.environment = environment;
    }

    /** The variable that sets an option: {@code --backend-connect-timeout} is {@code SYNPROXY_BACKEND_CONNECT_TIMEOUT}. */
    static String variable(OptionSpec option) {
        String name = option.longestName().replaceFirst("^-+", "");
        return PREFIX + name.replace('-', '_').toUpperCase(Locale.ROOT);
    }

    @Override
    public String defaultValue(ArgSpec argSpec) {
        if (!(argSpec instanceof OptionSpec option) || option.usageHelp() || option.versionHelp()) {
            return null;
        }
        String value = environment.get(variable(option));
        return value == null || value.isBlank() ? null : value.trim();
    }
}
