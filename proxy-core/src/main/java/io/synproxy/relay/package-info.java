/**
 * Netty relay: adopts the handed-off socket, connects the backend on the same loop, relays with back-pressure and
 * half-close, through a channel class that lives in Netty's own package ({@code io.netty.channel.epoll}).
 */
package io.synproxy.relay;
