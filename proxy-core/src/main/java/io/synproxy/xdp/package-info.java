/** SYNs answered in the kernel ({@code --syn-path tc|xdp|xdp-generic}): the BPF program's loader, key map and counters. */
package io.synproxy.xdp;
