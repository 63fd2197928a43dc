package io.synproxy.metrics;

/**
 * Where the front end reports how long the first frame of each capture-ring drain had waited in the ring: how far
 * behind the packets the loop runs. Every packet in the ring (a real client's SYN and final ACK too) waits that
 * long before it is answered. Called on the event loop, once per drain that found frames.
 */
@FunctionalInterface
public interface RingWaits {
    /** Reports nothing: metrics are off (and the drain reads no clock for it). */
    RingWaits NONE = millis -> { };

    /** @param millis the age of the drain's first frame, in milliseconds (the kernel stamps frames to the ms here) */
    void ringWait(long millis);
}
