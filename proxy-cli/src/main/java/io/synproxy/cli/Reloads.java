package io.synproxy.cli;

import java.io.PrintWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;

/**
 * What SIGHUP does: each registered action re-reads one file (cookie secrets, ...) and returns the sentence to
 * log; an action whose file is bad keeps what is in force. Actions run in registration order on the signal thread.
 */
final class Reloads {
    private final List<Supplier<String>> actions = new CopyOnWriteArrayList<>();

    /** Adds an action run at every SIGHUP. */
    Reloads add(Supplier<String> action) {
        actions.add(action);
        return this;
    }

    /** Runs every action now, logging each sentence. */
    void reload(PrintWriter out) {
        for (Supplier<String> action : actions) {
            out.println("synproxy: " + action.get());
        }
        out.flush();
    }

    /**
     * Installs the SIGHUP handler (without one SIGHUP ends the process) through jdk.unsupported's sun.misc.Signal,
     * the JDK's only signal API. Reached reflectively: javac warns about it at every direct use, which the build
     * treats as an error.
     */
    void onHangup(PrintWriter out) {
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            Object hup = signalClass.getConstructor(String.class).newInstance("HUP");
            Object handler = Proxy.newProxyInstance(Reloads.class.getClassLoader(), new Class<?>[] {handlerClass},
                    (proxy, method, args) -> {
                        if ("handle".equals(method.getName())) {
                            reload(out);
                            return null;
                        }
                        return switch (method.getName()) {
                            case "hashCode" -> System.identityHashCode(proxy);
                            case "equals" -> proxy == args[0];
                            default -> "synproxy SIGHUP handler";
                        };
                    });
            signalClass.getMethod("handle", signalClass, handlerClass).invoke(null, hup, handler);
        } catch (ReflectiveOperationException | IllegalArgumentException e) {
            Throwable cause = e instanceof InvocationTargetException ite ? ite.getCause() : e;
            out.println("synproxy: SIGHUP cannot be handled on this JVM (" + cause + "): restart to re-read files");
            out.flush();
        }
    }
}
