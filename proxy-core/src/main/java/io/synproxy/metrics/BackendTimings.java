package io.synproxy.metrics;

/** Where the relay reports how long a backend connection took; called on the event loop, once per connection. */
@FunctionalInterface
public interface BackendTimings {
    /** Reports nothing: metrics are off. */
    BackendTimings NONE = (connectNanos, sinceHandoffNanos) -> { };

    /**
     * The backend connection of a relay is ready.
     *
     * @param connectNanos from starting the backend connect to its success
     * @param sinceHandoffNanos from the handoff of the client's verified final ACK to the same moment
     */
    void backendReady(long connectNanos, long sinceHandoffNanos);
}
