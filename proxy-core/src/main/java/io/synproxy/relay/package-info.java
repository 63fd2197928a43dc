/**
 * The relay: adopts the handed-off socket (or, with {@code --handoff kernel}, the one the kernel built, accepted by
 * {@link io.synproxy.relay.KernelAccept}), connects the backend on the same loop, and moves bytes both ways on raw
 * descriptors registered with the loop's epoll ({@link io.synproxy.relay.Leg}), copying or splicing, with
 * back-pressure and half-close ({@link io.synproxy.relay.Flow}); one connection's life is
 * {@link io.synproxy.relay.RelayConnection}.
 */
package io.synproxy.relay;
