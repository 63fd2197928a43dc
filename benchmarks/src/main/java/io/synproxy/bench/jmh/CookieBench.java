package io.synproxy.bench.jmh;

import io.synproxy.cookie.CookieTables;
import io.synproxy.cookie.KeyRing;
import io.synproxy.cookie.SynCookie;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/** Cookie mint and check with a real {@link KeyRing} (clock read on every call, as in the proxy). */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CookieBench {
    private SynCookie cookie;
    private int mssIdx;
    private int wsIdx;
    private int saddr = 0x0A01_0203;
    private int validIsn;
    private int clientIsn = 0x1234_5678;

    @Setup
    public void setup() {
        cookie = new SynCookie(KeyRing.random(60_000, System::currentTimeMillis));
        mssIdx = CookieTables.mssIndex(1460);
        wsIdx = CookieTables.wscaleIndex(7);
        validIsn = cookie.encode(saddr, Packets.SERVER, 40000, Packets.PORT, clientIsn, mssIdx, wsIdx, true);
    }

    @Benchmark
    public int encode() {
        saddr += 0x01000193;
        return cookie.encode(saddr, Packets.SERVER, 40000, Packets.PORT, clientIsn, mssIdx, wsIdx, true);
    }

    @Benchmark
    public int verifyValid() {
        return cookie.verify(0x0A01_0203, Packets.SERVER, 40000, Packets.PORT, clientIsn, validIsn);
    }

    @Benchmark
    public int verifyForged() {
        clientIsn += 0x01000193;
        return cookie.verify(0x0A01_0203, Packets.SERVER, 40000, Packets.PORT, clientIsn, validIsn ^ clientIsn);
    }
}
