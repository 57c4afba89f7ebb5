package esb.lambda.runtime;

import esb.lambda.runtime.Faults.Fault;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOError;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Main is ESB's Lambda runtime client for Java. It speaks the Lambda Runtime
 * API (GET .../invocation/next, POST .../response, .../error,
 * .../init/error) as AWS's own client does, so a function that works here
 * works on AWS Lambda unchanged. Usage: java esb.lambda.runtime.Main
 * HANDLER (or the handler in _HANDLER).
 */
public final class Main {
    private static final String TRACE_PROPERTY = "com.amazonaws.xray.traceHeader";

    private final RuntimeApi api;
    private final HandlerLoader.Handler handler;
    private final ContextProxies contexts;
    private final Json json;
    private final InvokeData.FunctionEnv env;
    private final LogSink logs;

    private Main(RuntimeApi api, HandlerLoader.Handler handler, ContextProxies contexts, Json json,
            InvokeData.FunctionEnv env, LogSink logs) {
        this.api = api;
        this.handler = handler;
        this.contexts = contexts;
        this.json = json;
        this.env = env;
        this.logs = logs;
    }

    /**
     * main runs the runtime until the process is stopped or fails. With
     * --cds-training it only loads what every start needs and exits: the
     * image build runs it once to dump a class-data-sharing archive, which
     * cuts the JVM's share of each cold start.
     */
    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("--cds-training")) {
            train();
            return;
        }
        System.exit(run(args, System.getenv()));
    }

    // The classes of a start and of a first invocation: JSON binding both
    // ways, the class loader, the proxies, the HTTP client and the reports.
    private static void train() throws Exception {
        Json json = new Json();
        Object event = json.read("{\"a\":[1,2.5,\"x\",true,null]}".getBytes(StandardCharsets.UTF_8),
                new java.util.HashMap<String, Object>() { }.getClass().getGenericSuperclass());
        json.write(event);
        json.map("{\"cognitoIdentityId\":\"id\"}");
        json.write(Faults.body(new IllegalStateException("training")));
        Faults.logLine(new IllegalStateException("training"));
        ClassLoader loader = UserClassLoader.create("/nonexistent", "/nonexistent");
        new ContextProxies(loader, new LogSink(System.out, "JSON", null, json)).contextType();
        new HandlerLoader(loader, null, json).load("example.Missing::handle");
        ((java.net.HttpURLConnection) new java.net.URL("http://127.0.0.1:9/").openConnection()).setRequestMethod("POST");
    }

    static int run(String[] args, Map<String, String> environ) {
        // Autoflushed UTF-8 streams: output reaches the log at once, and in
        // the same encoding whatever the locale.
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(out);
        System.setErr(new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8));

        String handlerName = args.length > 0 ? args[0] : environ.get("_HANDLER");
        String address = environ.get("AWS_LAMBDA_RUNTIME_API");
        if (handlerName == null || handlerName.isEmpty()) {
            System.err.println("esb lambda runtime: no handler: pass it as the first argument or set _HANDLER");
            return 2;
        }
        if (address == null || address.isEmpty()) {
            System.err.println("esb lambda runtime: AWS_LAMBDA_RUNTIME_API is not set");
            return 2;
        }
        String taskRoot = environ.getOrDefault("LAMBDA_TASK_ROOT", System.getProperty("user.dir"));
        String optDir = environ.getOrDefault("ESB_RUNTIME_OPT_DIR", "/opt");

        RuntimeApi api = new RuntimeApi(address);
        Json json = new Json();
        LogSink logs = new LogSink(out, environ.get("AWS_LAMBDA_LOG_FORMAT"), environ.get("AWS_LAMBDA_LOG_LEVEL"), json);
        try {
            ClassLoader loader = UserClassLoader.create(taskRoot, optDir);
            Thread.currentThread().setContextClassLoader(loader);
            ContextProxies contexts = new ContextProxies(loader, logs);
            HandlerLoader.Handler handler;
            try {
                handler = new HandlerLoader(loader, contexts.contextType(), json).load(handlerName);
            } catch (Fault f) {
                logs.error(f.logLine());
                api.postInitError(json.write(f.body()), f.headerType());
                return 1;
            }
            return new Main(api, handler, contexts, json, new InvokeData.FunctionEnv(environ), logs).serveForever();
        } catch (IOException e) {
            // The Runtime API is gone: nothing sensible is left to do, and
            // Lambda (or RIE) restarts the runtime.
            System.err.println("runtime api: " + e);
            return 1;
        }
    }

    private int serveForever() throws IOException {
        while (true) {
            Integer exit = serveOne();
            if (exit != null) {
                return exit;
            }
        }
    }

    /** serveOne returns an exit code when the runtime must stop. */
    private Integer serveOne() throws IOException {
        RuntimeApi.Invocation inv = api.next();
        logs.setRequestId(inv.requestId);
        String traceId = inv.header("Lambda-Runtime-Trace-Id");
        if (traceId != null) {
            System.setProperty(TRACE_PROPERTY, traceId);
        } else {
            System.clearProperty(TRACE_PROPERTY);
        }
        InvokeData data;
        try {
            data = new InvokeData(inv.requestId, parseLong(inv.header("Lambda-Runtime-Deadline-Ms")),
                    inv.header("Lambda-Runtime-Invoked-Function-Arn"), traceId, inv.header("Lambda-Runtime-Aws-Tenant-Id"),
                    json.map(inv.header("Lambda-Runtime-Cognito-Identity")), json.map(inv.header("Lambda-Runtime-Client-Context")), env);
        } catch (IOException e) {
            Fault f = new Fault("Unable to parse the client context or cognito identity: " + e.getMessage(),
                    "Runtime.LambdaContextUnmarshalError", null, false);
            return reportFault(inv.requestId, f);
        }
        byte[] response;
        try {
            response = handler.handle(inv.body, contexts.context(data));
        } catch (Fault f) {
            return reportFault(inv.requestId, f);
        } catch (Throwable t) {
            Faults.filter(t);
            logs.error(Faults.logLine(t));
            api.postError(inv.requestId, json.write(Faults.body(t)), t.getClass().getName(),
                    new String(json.write(Faults.xrayCause(t)), StandardCharsets.UTF_8));
            // The JVM cannot be trusted after these: Lambda starts a new one.
            return t instanceof VirtualMachineError || t instanceof IOError ? 1 : null;
        }
        int status = api.postResponse(inv.requestId, response, "application/json");
        if (status != 202) {
            System.err.println("runtime api refused the response of " + inv.requestId + ": status " + status);
        }
        // A handler that interrupted its thread must not break the next poll.
        Thread.interrupted();
        return null;
    }

    private Integer reportFault(String requestId, Fault f) throws IOException {
        logs.error(f.logLine());
        api.postError(requestId, json.write(f.body()), f.headerType(), null);
        return f.fatal ? 1 : null;
    }

    private static long parseLong(String s) {
        try {
            return s == null ? 0 : Long.parseLong(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
