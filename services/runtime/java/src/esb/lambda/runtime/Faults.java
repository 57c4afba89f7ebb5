package esb.lambda.runtime;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Faults: the error reports of AWS's Java runtime. An exception thrown by
 * the handler is reported as {errorMessage, errorType (the class name),
 * stackTrace (one string per frame)}; a problem with the handler itself
 * (class not found, no suitable method) as a {@link Fault}, without stack.
 */
final class Faults {
    private static final String RUNTIME_PACKAGE = Faults.class.getPackageName() + ".";

    private Faults() {
    }

    /**
     * Fault is a problem loading or calling the handler, reported with a
     * message and the type of its cause. A fatal one ends the runtime (it is
     * an init error); others are reported on every invocation, as AWS does
     * for a class it cannot find.
     */
    static final class Fault extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final String type; // may be null
        final String trace; // printed stack of the cause; may be null
        final boolean fatal;

        Fault(String message, String type, String trace, boolean fatal) {
            super(message);
            this.type = type;
            this.trace = trace;
            this.fatal = fatal;
        }

        static Fault of(Throwable t, boolean fatal) {
            String msg = t.getLocalizedMessage() == null ? t.getClass().getName() : t.getLocalizedMessage();
            return new Fault(msg, t.getClass().getName(), printed(t), fatal);
        }

        static Fault of(String message) {
            return new Fault(message, null, null, false);
        }

        /** body is the JSON of the report: no stack trace, as AWS's. */
        Map<String, Object> body() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("errorMessage", getMessage());
            if (type != null) {
                m.put("errorType", type);
            }
            return m;
        }

        /** headerType names the fault for Lambda-Runtime-Function-Error-Type. */
        String headerType() {
            return type != null ? type : "Runtime.BadFunctionCode";
        }

        /** logLine is what AWS's runtime prints for a fault. */
        String logLine() {
            if (type == null && trace == null) {
                return getMessage() + "\n";
            }
            return getMessage() + ": " + (type == null ? "" : type) + "\n" + (trace == null ? "" : trace) + "\n";
        }
    }

    /** body is the error report of an exception the handler threw. */
    static Map<String, Object> body(Throwable t) {
        filter(t);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("errorMessage", t.getLocalizedMessage() == null ? t.getClass().getName() : t.getLocalizedMessage());
        m.put("errorType", t.getClass().getName());
        List<String> frames = new ArrayList<>();
        for (StackTraceElement e : t.getStackTrace()) {
            frames.add(e.toString());
        }
        m.put("stackTrace", frames);
        return m;
    }

    /** xrayCause is X-Ray's error cause document for an exception. */
    static Map<String, Object> xrayCause(Throwable t) {
        List<Map<String, Object>> stack = new ArrayList<>();
        Set<String> paths = new java.util.TreeSet<>();
        for (StackTraceElement e : t.getStackTrace()) {
            Map<String, Object> f = new LinkedHashMap<>();
            f.put("label", e.getMethodName());
            f.put("path", e.getFileName());
            f.put("line", e.getLineNumber());
            stack.add(f);
            if (e.getFileName() != null) {
                paths.add(e.getFileName());
            }
        }
        Map<String, Object> ex = new LinkedHashMap<>();
        ex.put("type", t.getClass().getName());
        ex.put("message", t.getLocalizedMessage());
        ex.put("stack", stack);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("working_directory", System.getProperty("user.dir"));
        m.put("exceptions", List.of(ex));
        m.put("paths", new ArrayList<>(paths));
        return m;
    }

    /** logLine is what AWS's runtime prints for an exception the handler threw. */
    static String logLine(Throwable t) {
        filter(t);
        String msg = t.getLocalizedMessage() == null ? t.getClass().getName() : t.getLocalizedMessage();
        return msg + ": " + t.getClass().getName() + "\n" + printed(t) + "\n";
    }

    static String printed(Throwable t) {
        filter(t);
        StringWriter sw = new StringWriter();
        t.printStackTrace(new PrintWriter(sw));
        return sw.toString();
    }

    /**
     * filter cuts the runtime's own frames (and what called them) off t, its
     * causes and suppressed exceptions, so a report starts and ends in user
     * code, as AWS's does.
     */
    static <T extends Throwable> T filter(T t) {
        filter(t, Collections.newSetFromMap(new IdentityHashMap<>()));
        return t;
    }

    private static void filter(Throwable t, Set<Throwable> seen) {
        if (t == null || !seen.add(t)) {
            return;
        }
        StackTraceElement[] trace = t.getStackTrace();
        for (int i = 0; i < trace.length; i++) {
            if (trace[i].getClassName().startsWith(RUNTIME_PACKAGE)) {
                StackTraceElement[] cut = new StackTraceElement[i];
                System.arraycopy(trace, 0, cut, 0, i);
                t.setStackTrace(cut);
                break;
            }
        }
        filter(t.getCause(), seen);
        for (Throwable s : t.getSuppressed()) {
            filter(s, seen);
        }
    }
}
