/** Stateless SYN cookies: SipHash-2-4 MACs over the connection tuple, carried in our ISN together with the client's TCP options. */
package io.synproxy.cookie;
