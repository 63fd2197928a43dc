package io.synproxy.server;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What /proc/net/packet shows of the packet sockets that would make the kernel's handoff lose its request socket. */
class PacketTapsTest {
    private static final String HEADER = "sk               RefCnt Type Proto  Iface R Rmem   User   Inode\n";

    @Test
    void shouldCountRunningSocketsOfOneIpProtocolOnTheInterfaceOrOnEvery() {
        assertEquals(3, PacketTaps.afterIp(HEADER + """
                000000009f992887 3      2    0800   1487  1 0      0      68237849
                0000000059f68e73 3      2    86dd   0     1 0      0      68237850
                00000000a626ba7a 3      3    0800   1487  1 0      0      68237856
                """, 1487));
    }

    @Test
    void shouldLeaveOutOtherInterfacesTapsOfEveryProtocolAndUnboundSockets() {
        assertEquals(0, PacketTaps.afterIp(HEADER + """
                000000008e6a0638 2      2    0000   0     0 0      0      68216305
                00000000fe59b4d7 3      2    0800   1     1 0      0      68237851
                000000008d2de19f 2      3    0003   1487  1 0      0      68237853
                0000000011111111 3      2    0800   1487  0 0      0      68237860
                """, 1487));
    }
}
