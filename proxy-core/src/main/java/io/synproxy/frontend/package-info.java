/** The raw-socket front end: AF_PACKET TPACKET_V2 ring in Netty's epoll loop, cookie SYN/ACKs out of a TX ring (a raw socket as fallback). */
package io.synproxy.frontend;
