/** The raw-socket front end: AF_PACKET TPACKET_V2 ring in Netty's epoll loop, cookie SYN/ACKs out of a raw socket. */
package io.synproxy.frontend;
