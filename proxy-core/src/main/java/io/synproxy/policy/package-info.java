/** Who is answered and how much a proven source may take: deny and allow prefixes, per-source and global limits. */
package io.synproxy.policy;
