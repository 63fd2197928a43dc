package io.netty.channel.epoll;

import java.net.InetSocketAddress;

/**
 * A channel for a socket that is already connected and whose peer is known (a handed-off one). Netty's public
 * {@code EpollSocketChannel(int)} asks the kernel for SO_ERROR and the peer's address; its accept path, used here,
 * takes the peer's address as given: two syscalls fewer per connection. Lives in Netty's package because that
 * constructor is package private.
 */
public final class EpollAdoption {
    private EpollAdoption() {
    }

    /** Wraps {@code fd}, a connected TCP socket to {@code remote}; the channel owns it from here on. */
    public static EpollSocketChannel connected(int fd, InetSocketAddress remote) {
        return new EpollSocketChannel(null, new LinuxSocket(fd), remote);
    }
}
