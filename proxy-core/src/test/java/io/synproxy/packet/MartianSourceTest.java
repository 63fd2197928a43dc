package io.synproxy.packet;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.InetAddress;
import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;

class MartianSourceTest {

    @ParameterizedTest(name = "{0} -> {1}: martian {2}")
    @CsvSource({
            "192.0.2.7,       10.0.0.1, false",
            "10.0.0.2,        10.0.0.1, false",
            "223.255.255.255, 10.0.0.1, false",
            "1.0.0.0,         10.0.0.1, false",
            "126.255.255.255, 10.0.0.1, false",
            "10.0.0.1,        10.0.0.1, true",  // our own address
            "0.0.0.0,         10.0.0.1, true",  // 0.0.0.0/8: this host on this network, never a source of TCP
            "0.1.2.3,         10.0.0.1, true",
            "127.0.0.1,       10.0.0.1, true",  // loopback off the loopback interface
            "127.255.0.9,     10.0.0.1, true",
            "224.0.0.1,       10.0.0.1, true",  // multicast
            "239.255.255.250, 10.0.0.1, true",
            "240.0.0.1,       10.0.0.1, true",  // class E
            "255.255.255.255, 10.0.0.1, true",  // limited broadcast
    })
    void shouldTellIpv4MartianSources(String src, String dst, boolean martian) throws Exception {
        assertEquals(martian, MartianSource.ipv4(v4(src), v4(dst)));
    }

    @ParameterizedTest(name = "{0} -> {1}: martian {2}")
    @CsvSource({
            "2001:db8::7,          fd00::1, false",
            "fd00::2,              fd00::1, false",
            "fe80::1,              fd00::1, false",
            "::2,                  fd00::1, false",
            "feff::1,              fd00::1, false",
            "fd00::1,              fd00::1, true",  // our own address
            "::,                   fd00::1, true",  // unspecified
            "::1,                  fd00::1, true",  // loopback
            "ff02::1,              fd00::1, true",  // multicast
            "ff0e::1234,           fd00::1, true",
            "::ffff:192.0.2.7,     fd00::1, true",  // IPv4-mapped (RFC 4291 2.5.5.2: never on the wire)
    })
    void shouldTellIpv6MartianSources(String src, String dst, boolean martian) throws Exception {
        long[] s = v6(src);
        long[] d = v6(dst);
        assertEquals(martian, MartianSource.ipv6(s[0], s[1], d[0], d[1]));
    }

    private static int v4(String a) throws Exception {
        return ByteBuffer.wrap(InetAddress.getByName(a).getAddress()).getInt();
    }

    private static long[] v6(String a) throws Exception {
        // InetAddress turns ::ffff:a.b.c.d into an Inet4Address: build the 16 bytes by hand for that one.
        byte[] b = a.startsWith("::ffff:") ? mapped(InetAddress.getByName(a.substring(7)).getAddress())
                : InetAddress.getByName(a).getAddress();
        ByteBuffer buf = ByteBuffer.wrap(b);
        return new long[] {buf.getLong(), buf.getLong()};
    }

    private static byte[] mapped(byte[] v4) {
        byte[] b = new byte[16];
        b[10] = (byte) 0xff;
        b[11] = (byte) 0xff;
        System.arraycopy(v4, 0, b, 12, 4);
        return b;
    }
}
