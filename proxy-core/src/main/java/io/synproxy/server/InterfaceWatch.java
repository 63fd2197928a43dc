package io.synproxy.server;

import io.synproxy.frontend.RingErrors;
import io.synproxy.linux.Constants;
import io.synproxy.linux.LinuxException;
import io.synproxy.linux.Native;

import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.IntSupplier;

/**
 * What the capture rings' errors mean for the process. The kernel sets ENETDOWN on a packet socket bound to an
 * interface that goes down, and again when the interface is removed (or moved to another namespace). Down is
 * passing: the kernel hooks the rings back in when the interface comes up, so it is said once and the proxy goes on.
 * Gone is the end: the rings stay unbound for good, the tc program went with the interface, and nothing on that
 * interface is protected any more; {@link #failure()} completes with one sentence, and the caller stops the proxy.
 */
final class InterfaceWatch implements RingErrors, AutoCloseable {
    /** Every ring of every loop reports the same event: one notice per event, not one per ring. */
    private static final long NOTICE_GAP_NANOS = 1_000_000_000L;

    private static final int IFF_UP = 1;

    /** The socket the questions are asked on, or -1 (see {@link #open}). */
    private final int fd;
    private final String name;
    private final int ifindex;
    /** The interface's index now, or -errno: ENODEV when there is none of that name. */
    private final IntSupplier currentIndex;
    /** Whether the interface is up now: 1, 0, or -1 when that cannot be told (see {@link #gone}). */
    private final IntSupplier upState;
    private final CompletableFuture<String> failure = new CompletableFuture<>();
    private final AtomicLong lastNotice = new AtomicLong(System.nanoTime() - NOTICE_GAP_NANOS);
    private volatile Consumer<String> notices = s -> { };
    /** What {@link #poll} last saw; only its thread touches it. */
    private boolean wasUp = true;

    InterfaceWatch(String name, int ifindex, IntSupplier currentIndex) {
        this(name, ifindex, currentIndex, () -> 1);
    }

    InterfaceWatch(String name, int ifindex, IntSupplier currentIndex, IntSupplier upState) {
        this(name, ifindex, currentIndex, upState, -1);
    }

    private InterfaceWatch(String name, int ifindex, IntSupplier currentIndex, IntSupplier upState, int fd) {
        this.fd = fd;
        this.name = name;
        this.ifindex = ifindex;
        this.currentIndex = currentIndex;
        this.upState = upState;
    }

    /**
     * The watch of interface {@code name}, which asks its questions on one socket of its own, opened now: glibc's
     * if_nametoindex and Java's NetworkInterface open one (or three) for every question, a descriptor that comes and
     * goes once a second, and cannot be had while the process is out of descriptors. Where even this one cannot be
     * opened, glibc's way.
     */
    static InterfaceWatch open(String name, int ifindex) {
        int fd;
        try {
            fd = Native.socket(Constants.AF_INET, Constants.SOCK_DGRAM | Constants.SOCK_CLOEXEC, 0);
        } catch (LinuxException e) {
            return new InterfaceWatch(name, ifindex, () -> Native.interfaceIndex(name), () -> upState(name), -1);
        }
        return new InterfaceWatch(name, ifindex, () -> Native.interfaceIndex(fd, name),
                () -> upState(Native.interfaceFlags(fd, name)), fd);
    }

    /** 1 when {@code flags} (or -errno) say up, 0 down, -1 when they could not be had. */
    static int upState(int flags) {
        return flags < 0 ? -1 : (flags & IFF_UP) != 0 ? 1 : 0;
    }

    private static int upState(String name) {
        try {
            NetworkInterface nif = NetworkInterface.getByName(name);
            return nif == null ? -1 : nif.isUp() ? 1 : 0;
        } catch (SocketException e) {
            return -1;
        }
    }

    /**
     * Once a second with {@code --handoff kernel}, which binds no ring that could report a down or a removal: whether
     * the interface is gone ({@link #gone}), and a down, or an up again, said once each.
     */
    void poll() {
        if (gone()) {
            return;
        }
        int up = upState.getAsInt();
        boolean now = up == 1;
        if (up < 0 || now == wasUp) {
            return;
        }
        wasUp = now;
        notices.accept(wasUp ? "synproxy: interface " + name + " is up again" : downNotice());
    }

    private String downNotice() {
        return "synproxy: interface " + name + " is down; SYNs are answered again when it comes back up";
    }

    @Override
    public void ringError(int errno) {
        if (failure.isDone()) {
            return;
        }
        if (errno == Constants.ENETDOWN && gone()) {
            return;
        }
        long now = System.nanoTime();
        long last = lastNotice.get();
        if (now - last >= NOTICE_GAP_NANOS && lastNotice.compareAndSet(last, now)) {
            notices.accept(errno == Constants.ENETDOWN ? downNotice()
                    : "synproxy: the capture ring on " + name + " reported error " + errno + "; carrying on");
        }
    }

    /**
     * Whether the interface is gone, which ends the run ({@link #failure()}). Asked at a ring's error, and once a
     * second with {@code --handoff kernel} ({@link #poll}).
     */
    boolean gone() {
        if (failure.isDone()) {
            return true;
        }
        int now = currentIndex.getAsInt();
        // Only "no such interface" means gone. Another errno says the question could not be put (glibc's way, where
        // the watch has no socket of its own, opens one to ask, which fails while the process is out of descriptors:
        // EMFILE), and stopping the proxy for that would hand whoever filled its descriptors a way to end it.
        if (now == ifindex || now < 0 && now != -Constants.ENODEV) {
            return false;
        }
        failure.complete("interface " + name + " is gone (removed, or moved to another network namespace):"
                + " nothing on it can be protected any more; stopping");
        return true;
    }

    /** Completes with the sentence that says why the proxy cannot go on; never completes otherwise. */
    CompletableFuture<String> failure() {
        return failure;
    }

    /** Closes the watch's socket; {@link #gone} and {@link #poll} are not asked after it. */
    @Override
    public void close() {
        if (fd >= 0) {
            Native.close(fd);
        }
    }

    /** Where the passing events are said (a line each), from a loop thread. */
    void onNotice(Consumer<String> sink) {
        notices = sink;
    }
}
