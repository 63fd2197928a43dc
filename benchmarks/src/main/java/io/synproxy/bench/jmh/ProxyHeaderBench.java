package io.synproxy.bench.jmh;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The PROXY protocol header the relay writes first on every backend connection ({@code --proxy-protocol}):
 * the message built from the client's addresses and encoded by Netty's {@link HAProxyMessageEncoder}, as
 * {@code Relay.sendProxyHeader} does. Once per connection, not per packet, so it is allowed to allocate.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class ProxyHeaderBench {
    @Param({"V1", "V2"})
    public String version;

    private EmbeddedChannel channel;
    private HAProxyProtocolVersion v;
    private int port = 40000;

    @Setup
    public void setup() {
        channel = new EmbeddedChannel(HAProxyMessageEncoder.INSTANCE);
        v = HAProxyProtocolVersion.valueOf(version);
    }

    @TearDown
    public void tearDown() {
        channel.finishAndReleaseAll();
    }

    @Benchmark
    public int encode() {
        port = port == 65535 ? 40000 : port + 1;
        HAProxyMessage header = new HAProxyMessage(v, HAProxyCommand.PROXY, HAProxyProxiedProtocol.TCP4,
                "198.51.100.23", "10.0.0.1", port, 443);
        channel.writeOutbound(header);
        ByteBuf out = channel.readOutbound();
        int n = out.readableBytes();
        out.release();
        return n;
    }
}
