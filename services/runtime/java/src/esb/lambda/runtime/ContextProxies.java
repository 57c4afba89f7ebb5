package esb.lambda.runtime;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Map;

/**
 * ContextProxies gives handlers their Context. The interface comes from the
 * function's own aws-lambda-java-core (in its jar or lib/), loaded by the
 * function's class loader; the runtime implements it with dynamic proxies,
 * so any version of the library works and the runtime ships none of it.
 * Methods a newer library adds with a default body run that body; others
 * the runtime does not know answer null (or zero).
 */
final class ContextProxies {
    static final String CONTEXT = "com.amazonaws.services.lambda.runtime.Context";
    private static final String LOGGER = "com.amazonaws.services.lambda.runtime.LambdaLogger";
    private static final String IDENTITY = "com.amazonaws.services.lambda.runtime.CognitoIdentity";
    private static final String CLIENT_CONTEXT = "com.amazonaws.services.lambda.runtime.ClientContext";
    private static final String CLIENT = "com.amazonaws.services.lambda.runtime.Client";

    private final ClassLoader loader;
    private final Class<?> contextType; // null without aws-lambda-java-core
    private final LogSink logs;

    ContextProxies(ClassLoader loader, LogSink logs) {
        this.loader = loader;
        this.contextType = load(CONTEXT);
        this.logs = logs;
    }

    /** contextType is the function's Context interface, or null. */
    Class<?> contextType() {
        return contextType;
    }

    /** context is the Context of one invocation, or null without the library. */
    Object context(InvokeData inv) {
        if (contextType == null) {
            return null;
        }
        return proxy(contextType, (self, m, args) -> {
            switch (m.getName()) {
                case "getAwsRequestId":
                    return inv.requestId;
                case "getLogGroupName":
                    return inv.env.logGroupName;
                case "getLogStreamName":
                    return inv.env.logStreamName;
                case "getFunctionName":
                    return inv.env.functionName;
                case "getFunctionVersion":
                    return inv.env.functionVersion;
                case "getInvokedFunctionArn":
                    return inv.invokedFunctionArn;
                case "getMemoryLimitInMB":
                    return inv.env.memoryLimitInMb;
                case "getRemainingTimeInMillis":
                    return (int) (inv.deadlineMs - System.currentTimeMillis());
                case "getXrayTraceId":
                    return inv.traceId;
                case "getTenantId":
                    return inv.tenantId;
                case "getIdentity":
                    return identity(inv.cognitoIdentity);
                case "getClientContext":
                    return clientContext(inv.clientContext);
                case "getLogger":
                    return logger();
                default:
                    return unknown(self, m, args, "LambdaContext[requestId=" + inv.requestId + "]");
            }
        });
    }

    private Object identity(Map<String, Object> cognito) {
        Class<?> type = load(IDENTITY);
        if (type == null || cognito == null) {
            return null;
        }
        return proxy(type, (self, m, args) -> {
            switch (m.getName()) {
                case "getIdentityId":
                    return cognito.get("cognitoIdentityId");
                case "getIdentityPoolId":
                    return cognito.get("cognitoIdentityPoolId");
                default:
                    return unknown(self, m, args, "CognitoIdentity" + cognito);
            }
        });
    }

    @SuppressWarnings("unchecked")
    private Object clientContext(Map<String, Object> cc) {
        Class<?> type = load(CLIENT_CONTEXT);
        if (type == null || cc == null) {
            return null;
        }
        return proxy(type, (self, m, args) -> {
            switch (m.getName()) {
                case "getClient":
                    return client((Map<String, Object>) cc.get("client"));
                case "getCustom":
                    return cc.get("custom");
                case "getEnvironment":
                case "getEnv":
                    return cc.get("env");
                default:
                    return unknown(self, m, args, "ClientContext" + cc);
            }
        });
    }

    private Object client(Map<String, Object> c) {
        Class<?> type = load(CLIENT);
        if (type == null || c == null) {
            return null;
        }
        return proxy(type, (self, m, args) -> {
            switch (m.getName()) {
                case "getInstallationId":
                    return c.get("installation_id");
                case "getAppTitle":
                    return c.get("app_title");
                case "getAppVersionName":
                    return c.get("app_version_name");
                case "getAppVersionCode":
                    return c.get("app_version_code");
                case "getAppPackageName":
                    return c.get("app_package_name");
                default:
                    return unknown(self, m, args, "Client" + c);
            }
        });
    }

    /**
     * logger hands each message to the log sink: log(msg) and
     * log(msg, LogLevel), for String and byte[] messages.
     */
    private Object logger() {
        Class<?> type = load(LOGGER);
        if (type == null) {
            return null;
        }
        return proxy(type, (self, m, args) -> {
            if (m.getName().equals("log") && args != null && (args.length == 1 || args.length == 2)) {
                String level = args.length == 2 && args[1] != null ? args[1].toString() : "UNDEFINED";
                if (args[0] instanceof byte[]) {
                    logs.log((byte[]) args[0], level);
                } else {
                    logs.log(String.valueOf(args[0]), level);
                }
                return null;
            }
            return unknown(self, m, args, "LambdaLogger");
        });
    }

    private Object proxy(Class<?> type, InvocationHandler h) {
        return Proxy.newProxyInstance(loader, new Class<?>[] {type}, h);
    }

    // Object's methods, default methods of newer library versions, and the
    // zero value of anything else.
    private static Object unknown(Object self, Method m, Object[] args, String name) throws Throwable {
        switch (m.getName()) {
            case "toString":
                return name;
            case "hashCode":
                return System.identityHashCode(self);
            case "equals":
                return args != null && args.length == 1 && args[0] == self;
            default:
                break;
        }
        if (m.isDefault()) {
            return InvocationHandler.invokeDefault(self, m, args);
        }
        Class<?> r = m.getReturnType();
        if (r == boolean.class) {
            return false;
        }
        if (r == int.class || r == long.class || r == short.class || r == byte.class) {
            return r == long.class ? 0L : r == short.class ? (short) 0 : r == byte.class ? (byte) 0 : 0;
        }
        if (r == double.class || r == float.class) {
            return r == double.class ? 0d : 0f;
        }
        if (r == char.class) {
            return '\0';
        }
        return null;
    }

    private Class<?> load(String name) {
        try {
            return Class.forName(name, false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }
}
