package io.synproxy.packet;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Ipv6FragmentTest {

    @Test
    void shouldTellAtomicFragmentsByOffsetAndMoreFragmentsOnly() {
        assertTrue(Ipv6Fragment.isAtomic(0x0000));
        assertTrue(Ipv6Fragment.isAtomic(0x0006), "the two reserved bits are ignored");
        assertFalse(Ipv6Fragment.isAtomic(0x0001), "M: a first fragment");
        assertFalse(Ipv6Fragment.isAtomic(0x0008), "offset 1");
        assertFalse(Ipv6Fragment.isAtomic(0x0009), "offset 1 and M");
        assertFalse(Ipv6Fragment.isAtomic(0xfff8), "offset 8191");
    }
}
