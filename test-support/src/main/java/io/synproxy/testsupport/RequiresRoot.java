package io.synproxy.testsupport;

import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * An integration test that needs root (namespaces, raw sockets, nftables) and the named tools besides {@code ip}.
 * When they are missing it is skipped on a developer's machine and FAILS in CI ({@code CI=true} or the system
 * property {@value Requirements#REQUIRED_PROPERTY}{@code =true}), so that a misconfigured CI is not green with
 * none of them run.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(Requirements.class)
public @interface RequiresRoot {
    /** Commands the test runs besides {@code ip}, for example {@code "nft"} or {@code "trafgen"}. */
    String[] tools() default {};
}
