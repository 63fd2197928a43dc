package io.synproxy.fuzz;

/**
 * Makes fuzzed bytes carry correct IPv4 and TCP checksums where their headers allow it, so the
 * fuzzer gets past the checksum checks (random bytes almost never pass them) and reaches the TCP
 * header and option parsing. Independent of the production checksum code; never throws.
 */
final class Checksums {
    private Checksums() {
    }

    static void fix(byte[] b, int ip) {
        if (b.length < ip + 20 || (b[ip] & 0xf0) != 0x40) {
            return;
        }
        int ihl = (b[ip] & 0x0f) * 4;
        if (ihl < 20 || ip + ihl > b.length) {
            return;
        }
        b[ip + 10] = 0;
        b[ip + 11] = 0;
        int sum = ~fold(sum(b, ip, ihl, 0)) & 0xffff;
        b[ip + 10] = (byte) (sum >>> 8);
        b[ip + 11] = (byte) sum;
        int total = u16(b, ip + 2);
        if ((b[ip + 9] & 0xff) != 6 || total < ihl + 20 || ip + total > b.length) {
            return;
        }
        int tcp = ip + ihl;
        int tcpLength = total - ihl;
        b[tcp + 16] = 0;
        b[tcp + 17] = 0;
        int pseudo = sum(b, ip + 12, 8, 0) + 6 + tcpLength;
        int tcpSum = ~fold(sum(b, tcp, tcpLength, pseudo)) & 0xffff;
        b[tcp + 16] = (byte) (tcpSum >>> 8);
        b[tcp + 17] = (byte) tcpSum;
    }

    private static int u16(byte[] b, int i) {
        return (b[i] & 0xff) << 8 | (b[i + 1] & 0xff);
    }

    private static int sum(byte[] b, int off, int len, int initial) {
        long s = initial;
        for (int i = 0; i < len; i += 2) {
            s += (b[off + i] & 0xff) << 8 | (i + 1 < len ? b[off + i + 1] & 0xff : 0);
        }
        while ((s >>> 16) != 0) {
            s = (s & 0xffff) + (s >>> 16);
        }
        return (int) s;
    }

    private static int fold(int s) {
        while ((s >>> 16) != 0) {
            s = (s & 0xffff) + (s >>> 16);
        }
        return s;
    }
}
