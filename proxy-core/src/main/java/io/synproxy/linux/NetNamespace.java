package io.synproxy.linux;

/**
 * Enters a named network namespace (one made by {@code ip netns add}, bound under /run/netns) on the
 * calling thread, as {@code ip netns exec} does for a process. Sockets the thread opens afterwards
 * belong to that namespace. The test hosts and the benchmark harness run their clients this way.
 */
public final class NetNamespace {
    private NetNamespace() {
    }

    /** Moves the calling platform thread into {@code name}; fails with the namespace's name and errno. */
    public static void enter(String name) throws LinuxException {
        int fd = Native.open("/run/netns/" + name, Constants.O_RDONLY | Constants.O_CLOEXEC);
        try {
            Native.setns(fd, Constants.CLONE_NEWNET);
        } finally {
            Native.close(fd);
        }
    }
}
