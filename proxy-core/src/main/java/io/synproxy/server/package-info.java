/** Assembles the pipeline (ring, handshake, handoff, relay, guard) on Netty epoll loops and owns its lifecycle. */
package io.synproxy.server;
