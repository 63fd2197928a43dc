package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import io.synproxy.config.ProxyProtocol;

import java.net.Inet4Address;
import java.net.InetSocketAddress;

/** The PROXY protocol header that starts a backend connection: the client's address and the one it connected to. */
final class ProxyHeader {
    private ProxyHeader() {
    }

    /** The header for a client at {@code src} that connected to {@code dst}; null when the protocol is off. */
    static HAProxyMessage of(ProxyProtocol protocol, InetSocketAddress src, InetSocketAddress dst) {
        if (protocol == ProxyProtocol.OFF) {
            return null;
        }
        HAProxyProxiedProtocol family = src.getAddress() instanceof Inet4Address
                ? HAProxyProxiedProtocol.TCP4 : HAProxyProxiedProtocol.TCP6;
        return new HAProxyMessage(protocol == ProxyProtocol.V1 ? HAProxyProtocolVersion.V1 : HAProxyProtocolVersion.V2,
                HAProxyCommand.PROXY, family, src.getAddress().getHostAddress(), dst.getAddress().getHostAddress(),
                src.getPort(), dst.getPort());
    }

    /** The header's bytes for a client at {@code src} that connected to {@code dst}; null when the protocol is off. */
    static ByteBuf encode(ProxyProtocol protocol, InetSocketAddress src, InetSocketAddress dst) {
        HAProxyMessage header = of(protocol, src, dst);
        if (header == null) {
            return null;
        }
        EmbeddedChannel encoder = new EmbeddedChannel(HAProxyMessageEncoder.INSTANCE);
        encoder.writeOutbound(header);
        ByteBuf bytes = encoder.readOutbound();
        encoder.finishAndReleaseAll();
        return bytes;
    }
}
