/** Pure handshake decisions: a SYN becomes SYN/ACK bytes, a final ACK becomes a verdict with the negotiated options. */
package io.synproxy.handshake;
