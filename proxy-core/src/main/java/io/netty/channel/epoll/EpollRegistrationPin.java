package io.netty.channel.epoll;

import io.netty.channel.Channel;

import java.io.IOException;

/**
 * Works around a Netty 4.2.18 epoll bug that cuts half-closed relays short.
 *
 * <p>Netty removes a channel's fd from epoll ({@code EPOLL_CTL_DEL}) when its interest mask
 * becomes empty, but keeps the registration marked as added, so the next interest it sets is an
 * {@code EPOLL_CTL_MOD} that fails with ENOENT. After a peer's FIN the mask is empty (input shut
 * down, RDHUP handled); when the other direction then needs EPOLLOUT, the write fails, Netty shuts
 * the output down and the relay ends early (seen: 11 of 20 10 MB half-close transfers cut short).
 *
 * <p>Keeping EPOLLERR in the mask means it is never empty. Errors are always reported by epoll
 * anyway, so this adds no wakeups. This class lives in Netty's package because the flag setter
 * is protected; remove it once a Netty release re-adds deleted registrations (no 4.2 release after
 * 4.2.18 resolves here yet).
 */
public final class EpollRegistrationPin {
    private EpollRegistrationPin() {
    }

    /** Keeps {@code channel} registered with epoll for its whole life. Call on its event loop, or before it is registered. */
    public static void pin(Channel channel) throws IOException {
        if (channel instanceof AbstractEpollChannel epoll) {
            epoll.setFlag(EpollIoOps.EPOLLERR.value());
        }
    }
}
