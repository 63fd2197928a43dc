package io.synproxy.server;

import io.synproxy.linux.Constants;
import io.synproxy.linux.Native;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InterfaceWatchTest {
    @Test
    void shouldSayADownOnceForEveryRingAndGoOn() {
        InterfaceWatch watch = new InterfaceWatch("eth0", 7, () -> 7);
        List<String> said = new ArrayList<>();
        watch.onNotice(said::add);
        for (int ring = 0; ring < 4; ring++) {
            watch.ringError(Constants.ENETDOWN);
        }
        assertEquals(List.of("synproxy: interface eth0 is down; SYNs are answered again when it comes back up"), said);
        assertFalse(watch.failure().isDone());
    }

    /** --handoff kernel binds no ring: the once-a-second poll says a down and an up again, once each. */
    @Test
    void shouldSayADownAndAnUpOnceEachWhenPolled() {
        AtomicInteger up = new AtomicInteger(1);
        InterfaceWatch watch = new InterfaceWatch("eth0", 7, () -> 7, up::get);
        List<String> said = new ArrayList<>();
        watch.onNotice(said::add);
        watch.poll();
        up.set(0);
        watch.poll();
        watch.poll();
        up.set(-1);
        watch.poll();
        up.set(1);
        watch.poll();
        watch.poll();
        assertEquals(List.of("synproxy: interface eth0 is down; SYNs are answered again when it comes back up",
                "synproxy: interface eth0 is up again"), said, "a state that cannot be told changes nothing");
        assertFalse(watch.failure().isDone());
    }

    @Test
    void shouldEndWhenTheInterfaceIsGoneOrAnotherHasItsName() {
        AtomicInteger index = new AtomicInteger(7);
        InterfaceWatch watch = new InterfaceWatch("eth0", 7, index::get);
        index.set(-Constants.ENODEV);
        watch.ringError(Constants.ENETDOWN);
        assertTrue(watch.failure().isDone());
        assertTrue(watch.failure().join().startsWith("interface eth0 is gone"), watch.failure().join());

        InterfaceWatch renamed = new InterfaceWatch("eth0", 7, () -> 9);
        renamed.ringError(Constants.ENETDOWN);
        assertTrue(renamed.failure().isDone(), "a new eth0 is not the interface the rings were bound to");
    }

    @Test
    void shouldTellWhetherTheInterfaceIsGoneWhenAsked() {
        AtomicInteger index = new AtomicInteger(7);
        InterfaceWatch watch = new InterfaceWatch("eth0", 7, index::get);
        assertFalse(watch.gone());
        assertFalse(watch.failure().isDone());
        index.set(-Constants.ENODEV);
        assertTrue(watch.gone());
        index.set(7);
        assertTrue(watch.gone(), "gone is the end, even if an interface of that index comes back");
        assertTrue(watch.failure().join().contains("stopping"), watch.failure().join());
    }

    /** glibc's if_nametoindex opens a socket: out of descriptors, it cannot tell, and that is not "gone". */
    @Test
    void shouldNotTakeAQuestionThatCouldNotBePutForGone() {
        AtomicInteger index = new AtomicInteger(-Constants.EMFILE);
        InterfaceWatch watch = new InterfaceWatch("eth0", 7, index::get);
        assertFalse(watch.gone());
        index.set(-Constants.ENFILE);
        watch.ringError(Constants.ENETDOWN);
        assertFalse(watch.failure().isDone());
        index.set(-Constants.ENODEV);
        assertTrue(watch.gone());
    }

    @Test
    void shouldSayAnotherErrorAndGoOn() {
        InterfaceWatch watch = new InterfaceWatch("eth0", 7, () -> 0);
        List<String> said = new ArrayList<>();
        watch.onNotice(said::add);
        watch.ringError(Constants.ENOBUFS);
        assertEquals(1, said.size());
        assertTrue(said.getFirst().contains("error 105"), said.getFirst());
        assertFalse(watch.failure().isDone(), "only ENETDOWN says anything about the interface");
    }

    @Test
    void shouldNeverEndForCaptureOnEveryInterface() {
        InterfaceWatch watch = new InterfaceWatch("every interface", 0, () -> 0);
        watch.ringError(Constants.ENETDOWN);
        assertFalse(watch.failure().isDone());
    }

    /**
     * The real kernel, on loopback (there in every namespace): the watch asks on one socket it opened at the start,
     * the same answers as glibc's, and no descriptor comes and goes per question.
     */
    @Test
    void shouldAskTheKernelOnOneSocketOfItsOwn() throws Exception {
        int lo = Native.interfaceIndex("lo");
        assertTrue(lo > 0, "lo: " + lo);
        long before = openDescriptors();
        try (InterfaceWatch watch = InterfaceWatch.open("lo", lo)) {
            assertEquals(before + 1, openDescriptors(), "one socket, opened at the start");
            List<String> said = new ArrayList<>();
            watch.onNotice(said::add);
            for (int i = 0; i < 5; i++) {
                watch.poll();
                assertFalse(watch.gone());
            }
            assertEquals(before + 1, openDescriptors(), "no descriptor per question");
            assertEquals(List.of(), said, "lo is up");
        }
        assertEquals(before, openDescriptors(), "closed with the watch");
        try (InterfaceWatch other = InterfaceWatch.open("spxnone0", lo)) {
            assertTrue(other.gone(), "no interface of that name");
        }
        int fd = Native.socket(Constants.AF_INET, Constants.SOCK_DGRAM | Constants.SOCK_CLOEXEC, 0);
        try {
            assertEquals(lo, Native.interfaceIndex(fd, "lo"));
            assertEquals(1, InterfaceWatch.upState(Native.interfaceFlags(fd, "lo")));
            assertEquals(-Constants.ENODEV, Native.interfaceIndex(fd, "spxnone0"));
            assertEquals(-1, InterfaceWatch.upState(Native.interfaceFlags(fd, "spxnone0")));
            assertEquals(-Constants.ENODEV, Native.interfaceIndex(fd, "a-name-too-long-for-linux"));
        } finally {
            Native.close(fd);
        }
    }

    private static long openDescriptors() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }
}
