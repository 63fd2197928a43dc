package io.synproxy.relay;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.synproxy.metrics.Counters;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** What the client sends before the backend is connected: kept in order, bounded, then replayed. */
class BackendConnectTest {
    private static final int CHUNK = 4096;

    @Test
    void shouldKeepWhatArrivesEarlyAndStopReadingPastTheBound() {
        EmbeddedChannel client = new EmbeddedChannel();
        List<Integer> replayed = new ArrayList<>();
        // The relay's join: its pump takes the handler's place and the early reads are replayed into it, in order.
        BackendConnect early = new BackendConnect(client, new Counters(), (c, s, e) -> {
            c.pipeline().replace(e, "relay", new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    ByteBuf buf = (ByteBuf) msg;
                    replayed.add(buf.getInt(0));
                    buf.release();
                }
            });
            e.replay();
        });
        client.pipeline().addLast("connect", early);
        int chunks = BackendConnect.EARLY_BYTES / CHUNK + 4;
        int readWhileReading = 0;
        for (int i = 0; i < chunks && client.config().isAutoRead(); i++) {
            ByteBuf buf = Unpooled.buffer(CHUNK);
            buf.writeInt(i).writerIndex(CHUNK);
            client.writeInbound(buf);
            readWhileReading++;
        }
        assertFalse(client.config().isAutoRead(), "reading stopped");
        assertEquals(BackendConnect.EARLY_BYTES / CHUNK, readWhileReading, "chunks taken before reading stopped");

        EmbeddedChannel server = new EmbeddedChannel();
        early.operationComplete(server.newSucceededFuture());
        assertEquals(readWhileReading, replayed.size());
        for (int i = 0; i < replayed.size(); i++) {
            assertEquals(i, replayed.get(i));
        }
        client.finishAndReleaseAll();
        server.finishAndReleaseAll();
    }
}
