package io.synproxy.cli;

import io.synproxy.config.ConfigException;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReloadsTest {
    @Test
    void shouldRunEveryActionAndReportAFailureWithoutStoppingTheOthers() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> ran = new ArrayList<>();
        Reloads reloads = new Reloads(new PrintWriter(out), new PrintWriter(err))
                .add("cookie secret", () -> {
                    ran.add("secret");
                    throw new ConfigException("secret.key line 1: too short");
                })
                .add("deny and allow lists", () -> {
                    ran.add("lists");
                    return "deny list 3 prefix(es)";
                });
        reloads.runAll();
        assertEquals(List.of("secret", "lists"), ran);
        assertTrue(out.toString().contains("deny and allow lists reloaded: deny list 3 prefix(es)"), out.toString());
        assertTrue(err.toString().contains("cookie secret not reloaded, the old one stays: secret.key line 1"),
                err.toString());
    }

    @Test
    void shouldInstallTheSignalHandlerOnThisJvm() {
        Reloads reloads = new Reloads(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()))
                .add("nothing", () -> "ok");
        assertTrue(reloads.install());
    }
}
