package io.synproxy.cli;

import io.synproxy.config.Keepalive;
import picocli.CommandLine;

import java.util.Locale;

/** {@code IDLE,INTERVAL,COUNT} (durations as {@link DurationConverter} reads them) or {@code off}. */
final class KeepaliveConverter implements CommandLine.ITypeConverter<Keepalive> {
    @Override
    public Keepalive convert(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("off") || v.equals("none")) {
            return null;
        }
        String[] parts = v.split(",");
        if (parts.length != 3) {
            throw new CommandLine.TypeConversionException(
                    "'" + value + "' is not IDLE,INTERVAL,COUNT (example: 60s,10s,6) or off");
        }
        DurationConverter durations = new DurationConverter();
        int count;
        try {
            count = Integer.parseInt(parts[2].trim());
        } catch (NumberFormatException e) {
            throw new CommandLine.TypeConversionException("'" + parts[2] + "' is not a probe count");
        }
        return new Keepalive(durations.convert(parts[0]), durations.convert(parts[1]), count);
    }
}
