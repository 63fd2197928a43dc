package io.synproxy.bench.jmh;

import io.synproxy.cookie.SipHash;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/** SipHash-2-4 over the IPv4 cookie message (24 bytes, three words) and the IPv6 one (48 bytes). */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class SipHashBench {
    private long k0 = 0x0706050403020100L;
    private long k1 = 0x0f0e0d0c0b0a0908L;
    private long m = 0x0123_4567_89ab_cdefL;

    @Benchmark
    public long hash24() {
        m += 0x9E37_79B9_7F4A_7C15L;
        return SipHash.hash24(k0, k1, m, m >>> 7, 0x5a);
    }

    @Benchmark
    public long hash48() {
        m += 0x9E37_79B9_7F4A_7C15L;
        return SipHash.hash48(k0, k1, m, m >>> 3, m >>> 5, m >>> 7, m >>> 11, 0x5a);
    }
}
