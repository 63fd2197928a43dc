/** Allocation-free flyweights, parser and writer for Ethernet, IPv4 and TCP headers in network byte order. */
package io.synproxy.packet;
