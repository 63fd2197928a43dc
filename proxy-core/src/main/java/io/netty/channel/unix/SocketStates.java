package io.netty.channel.unix;

/**
 * Marks a Netty socket's state without the system call Netty pairs with the mark. Lives in Netty's package because
 * the state and its compare-and-set are package private.
 */
public final class SocketStates {
    private SocketStates() {
    }

    /**
     * Marks {@code fd}'s input shut down, as {@code Socket.shutdown(true, false)} does, without shutdown(2) SHUT_RD:
     * on a TCP socket whose FIN has been read it only sets a flag the relay never reads (data that comes after the
     * FIN cannot exist, and the kernel would still queue it). Does nothing to a closed descriptor.
     */
    public static void markInputShutdown(FileDescriptor fd) {
        for (;;) {
            int state = fd.state;
            if (FileDescriptor.isClosed(state) || FileDescriptor.isInputShutdown(state)) {
                return;
            }
            if (fd.casState(state, FileDescriptor.inputShutdown(state))) {
                return;
            }
        }
    }
}
