package io.synproxy.bench;

import io.synproxy.testsupport.Shell;
import io.synproxy.testsupport.TestNet;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * HAProxy in TCP mode on a kernel listener (the kernel's SYN cookies answer the flood), relaying to nginx:
 * what a user gets by putting the usual proxy in front of a server on a host with {@code tcp_syncookies=1}.
 * One process, as many threads as CPUs (HAProxy's default), the same accept backlog as every other listener.
 */
final class HaproxyFront {
    private HaproxyFront() {
    }

    static Process start(TestNet net, String ns, Path dir, String listen, String backend, int backlog)
            throws IOException {
        Files.createDirectories(dir);
        Path cfg = dir.resolve("haproxy.cfg");
        Files.writeString(cfg, """
                global
                    maxconn 8000
                defaults
                    mode tcp
                    timeout connect 5s
                    timeout client 30s
                    timeout server 30s
                frontend flood
                    bind %s backlog %d
                    default_backend nginx
                backend nginx
                    server nginx %s
                """.formatted(listen, backlog, backend));
        return net.start(ns, ProcessBuilder.Redirect.appendTo(dir.resolve("haproxy.log").toFile()),
                Shell.bin("haproxy"), "-db", "-f", cfg.toString());
    }
}
