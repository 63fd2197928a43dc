package io.synproxy.bench;

/** Entry point of synproxy-bench.jar (placeholder until the harness lands): {@code jmh ARGS} runs the JMH benchmarks. */
public final class BenchMain {
    private BenchMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("jmh")) {
            org.openjdk.jmh.Main.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        System.err.println("usage: synproxy-bench jmh [JMH options]");
        System.exit(2);
    }
}
