package io.synproxy.testsupport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/** A private nginx (one worker, no master, no access log) serving a small static page from its own directory. */
public final class Nginx {
    public static final String BODY = "synproxy-bench: hello from nginx behind the defence under test\n";

    private Nginx() {
    }

    /**
     * Starts nginx in {@code ns} listening on each {@code listens} entry ("IP:PORT"), every one with the given
     * accept backlog; its config, page and logs go to {@code dir}. The process is owned by {@code net}.
     */
    public static Process start(TestNet net, String ns, Path dir, int backlog, List<String> listens)
            throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("index.html"), BODY);
        String listen = listens.stream().map(l -> "        listen " + l + " backlog=" + backlog + ";")
                .collect(Collectors.joining("\n"));
        Files.writeString(dir.resolve("nginx.conf"), """
                daemon off;
                master_process off;
                worker_processes 1;
                pid %1$s/nginx.pid;
                error_log %1$s/error.log;
                worker_rlimit_nofile 16384;
                events { worker_connections 8192; multi_accept on; }
                http {
                    access_log off;
                    keepalive_requests 1000000;
                    client_body_temp_path %1$s;
                    proxy_temp_path %1$s;
                    fastcgi_temp_path %1$s;
                    uwsgi_temp_path %1$s;
                    scgi_temp_path %1$s;
                    server {
                %2$s
                        root %1$s;
                    }
                }
                """.formatted(dir, listen));
        return net.start(ns, ProcessBuilder.Redirect.appendTo(dir.resolve("stdout.log").toFile()),
                Shell.bin("nginx"), "-c", dir.resolve("nginx.conf").toString(), "-p", dir.toString());
    }
}
