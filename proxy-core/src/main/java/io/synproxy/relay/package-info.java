/** Netty relay: adopts the handed-off socket, connects the backend on the same loop, relays with back-pressure and half-close. */
package io.synproxy.relay;
