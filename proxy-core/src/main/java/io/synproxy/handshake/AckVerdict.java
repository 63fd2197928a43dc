package io.synproxy.handshake;

/**
 * What a valid final ACK proved: the 4-tuple, both sequence numbers and the options negotiated
 * through the cookie. Mutable and reused per receive loop; read it before the next packet.
 */
public final class AckVerdict {
    int clientAddress;
    int localAddress;
    int clientPort;
    int localPort;
    int isn;
    int clientIsn;
    int mss;
    int clientWscale;
    int ourWscale;
    boolean sack;
    boolean timestamps;
    int clientTsVal;
    int ourTsVal;
    int clientWindow;
    long payloadOffset;
    int payloadLength;

    public int clientAddress() {
        return clientAddress;
    }

    public int localAddress() {
        return localAddress;
    }

    public int clientPort() {
        return clientPort;
    }

    public int localPort() {
        return localPort;
    }

    /** Our initial sequence number: the cookie. */
    public int isn() {
        return isn;
    }

    public int clientIsn() {
        return clientIsn;
    }

    /** The client's MSS, rounded down to the cookie table. */
    public int mss() {
        return mss;
    }

    /** The client's window-scale shift (rounded down to the table), or -1 when it sent none. */
    public int clientWscale() {
        return clientWscale;
    }

    /** The shift we announced in the SYN/ACK, or -1 when window scaling is off. */
    public int ourWscale() {
        return ourWscale;
    }

    public boolean sack() {
        return sack;
    }

    public boolean timestamps() {
        return timestamps;
    }

    public int clientTsVal() {
        return clientTsVal;
    }

    /** The TSval we sent in the SYN/ACK, as the client echoes it. */
    public int ourTsVal() {
        return ourTsVal;
    }

    /** The raw (unscaled) window field of the final ACK. */
    public int clientWindow() {
        return clientWindow;
    }

    public long payloadOffset() {
        return payloadOffset;
    }

    public int payloadLength() {
        return payloadLength;
    }

    /** The client's next sequence number after what the ACK carried. */
    public int clientNextSeq() {
        return clientIsn + 1 + payloadLength;
    }
}
