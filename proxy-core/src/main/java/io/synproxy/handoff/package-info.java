/** Builds an already-established kernel TCP socket (TCP_REPAIR) from a validated cookie handshake. */
package io.synproxy.handoff;
