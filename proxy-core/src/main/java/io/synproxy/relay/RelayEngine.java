package io.synproxy.relay;

import io.netty.util.concurrent.Future;
import io.synproxy.handoff.ConnectionSink;

/** What {@link Relay} asks of the code that moves a loop's connections. */
interface RelayEngine extends ConnectionSink {
    /** Closes every relay still open, counting each, on the loop; completes with how many. */
    Future<Integer> closeAll();

    /** Frees what the engine keeps between connections; call once the loop has stopped. */
    void close();
}
