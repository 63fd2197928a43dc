package io.synproxy.cli;

import io.synproxy.config.ConfigException;

import java.io.PrintWriter;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;

/**
 * What SIGHUP re-reads: each component registers one named action, and one signal handler runs them all in order.
 * An action that fails says why in one line and leaves the old state in force; the others still run.
 *
 * <p>The handler is {@code sun.misc.Signal} (jdk.unsupported, the JDK's own way to catch a signal), reached by
 * reflection because javac warns on any direct use and the build fails on warnings.
 */
final class Reloads {
    private final PrintWriter out;
    private final PrintWriter err;
    private final List<Action> actions = new ArrayList<>();

    /** Re-reads something; returns one line saying what is now in force. */
    @FunctionalInterface
    interface Reload {
        String reload() throws ConfigException;
    }

    private record Action(String what, Reload reload) {
    }

    Reloads(PrintWriter out, PrintWriter err) {
        this.out = out;
        this.err = err;
    }

    /** Adds an action run on every SIGHUP. */
    Reloads add(String what, Reload reload) {
        actions.add(new Action(what, reload));
        return this;
    }

    /** Runs every action now (the SIGHUP handler's body). */
    synchronized void runAll() {
        for (Action a : actions) {
            try {
                out.println("synproxy: SIGHUP: " + a.what() + " reloaded: " + a.reload().reload());
                out.flush();
            } catch (ConfigException e) {
                err.println("synproxy: SIGHUP: " + a.what() + " not reloaded, the old one stays: " + e.getMessage());
                err.flush();
            }
        }
    }

    /**
     * Installs the SIGHUP handler when there is something to reload; without one SIGHUP keeps its default.
     *
     * @return false (with one line on stderr) when this JVM cannot catch signals or the process ignores SIGHUP
     */
    boolean install() {
        if (actions.isEmpty()) {
            return true;
        }
        try {
            Class<?> signal = Class.forName("sun.misc.Signal");
            Class<?> handler = Class.forName("sun.misc.SignalHandler");
            Constructor<?> named = signal.getConstructor(String.class);
            Method handle = signal.getMethod("handle", signal, handler);
            Object onHup = Proxy.newProxyInstance(Reloads.class.getClassLoader(), new Class<?>[] {handler},
                    (proxy, method, args) -> switch (method.getName()) {
                        case "handle" -> {
                            runAll();
                            yield null;
                        }
                        case "hashCode" -> System.identityHashCode(proxy);
                        case "equals" -> proxy == args[0];
                        default -> "SIGHUP reload handler";
                    });
            Object previous = handle.invoke(null, named.newInstance("HUP"), onHup);
            // A process started with SIGHUP ignored (nohup, some supervisors) keeps it ignored: the JVM installs no
            // handler then, and a reload would silently never happen.
            if (previous == handler.getField("SIG_IGN").get(null)) {
                err.println("synproxy: SIGHUP is ignored in this process (started under nohup?), so lists and "
                        + "secrets are read at start only; start it without nohup to reload them with kill -HUP");
                err.flush();
                return false;
            }
            return true;
        } catch (ReflectiveOperationException | RuntimeException e) {
            err.println("synproxy: SIGHUP cannot be caught in this JVM, lists are read at start only: " + e);
            err.flush();
            return false;
        }
    }
}
