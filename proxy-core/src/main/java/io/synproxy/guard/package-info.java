/** The nftables table that keeps the kernel out of the handshake on the protected port, owned by the process. */
package io.synproxy.guard;
