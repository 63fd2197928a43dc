package io.synproxy.server;

import io.synproxy.config.Handoff;
import io.synproxy.config.ProxyConfig;
import io.synproxy.xdp.XdpFastPath;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What {@code --handoff auto} comes to on this host, and why: the kernel's handoff where the BPF program can answer the
 * SYNs at tc and hand the final ACKs to a listener (bpf_sk_assign_tcp_reqsk: Linux 6.9 and its BTF), else the repair
 * handoff; the repair handoff too where another process receives IPv4 or IPv6 on the interface through a packet socket
 * ({@link PacketTaps}: another synproxy with the repair handoff), which the kernel's handoff cannot share it with. Told
 * from what the host says before anything is loaded; a program the kernel still refuses sends the start back to the
 * repair handoff ({@link ProxyServer#start}).
 *
 * @param handoff repair or kernel
 * @param why     for the start line
 */
record HandoffChoice(Handoff handoff, String why) {
    /** The first release whose bpf_sk_assign_tcp_reqsk builds a connection from a cookie. */
    static final int[] KERNEL_RELEASE = {6, 9};
    private static final Path OSRELEASE = Path.of("/proc/sys/kernel/osrelease");
    private static final Path BTF = Path.of("/sys/kernel/btf/vmlinux");
    private static final Pattern RELEASE = Pattern.compile("^(\\d+)\\.(\\d+)");

    /**
     * @param another whether another running instance shares these listens (an upgrade in place): it decides, since
     *                the two handoffs cannot share an interface; one with the kernel's holds the ports with its
     *                listening sockets, one with the repair handoff leaves them free
     */
    static HandoffChoice of(ProxyConfig config, HostFacts host, boolean another) {
        if (config.handoff() != Handoff.AUTO) {
            return new HandoffChoice(config.handoff(), null);
        }
        if (another) {
            return HostFacts.portsFree(config)
                    ? repair("a running instance on these listens has the repair handoff")
                    : kernel("a running instance on these listens has the kernel's handoff");
        }
        if (host.ifindex() == 0) {
            return repair("the program at tc needs one interface (--interface, or a --listen address of one)");
        }
        if (host.txMac() == null) {
            return repair("the program at tc needs an Ethernet interface");
        }
        if (XdpFastPath.class.getResource(XdpFastPath.KERNEL_HANDOFF_RESOURCE) == null) {
            return repair("this build has no BPF program (clang was not installed when it was built)");
        }
        String release = release();
        if (!atLeast(release, KERNEL_RELEASE)) {
            return repair("Linux " + release + ", the kernel's handoff needs 6.9 or newer");
        }
        if (!Files.isReadable(BTF)) {
            return repair("this kernel has no BTF (" + BTF + "), which the kernel's handoff needs");
        }
        int taps = PacketTaps.afterIp(host.ifindex());
        if (taps > 0) {
            return repair(taps + " packet socket(s) of IPv4 or IPv6 receive on " + host.interfaceName() + " (another "
                    + "synproxy with the repair handoff has such sockets), which would refuse the kernel's handoff's "
                    + "clients");
        }
        return kernel("Linux " + release);
    }

    /** Whether a release string ("6.18.44-fc", "6.9.0") is {@code least} or newer; false when it says no version. */
    static boolean atLeast(String release, int[] least) {
        Matcher m = RELEASE.matcher(release);
        if (!m.find()) {
            return false;
        }
        int major = Integer.parseInt(m.group(1));
        int minor = Integer.parseInt(m.group(2));
        return major > least[0] || major == least[0] && minor >= least[1];
    }

    private static String release() {
        try {
            return Files.readString(OSRELEASE).strip();
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static HandoffChoice repair(String why) {
        return new HandoffChoice(Handoff.REPAIR, why);
    }

    private static HandoffChoice kernel(String why) {
        return new HandoffChoice(Handoff.KERNEL, why);
    }

    /** The choice with why the chosen handoff's start failed: the kernel refused the program, for the repair one. */
    HandoffChoice fallBack(String refusal) {
        return repair(refusal);
    }
}
