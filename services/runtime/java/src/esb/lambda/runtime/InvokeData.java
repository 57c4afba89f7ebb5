package esb.lambda.runtime;

import java.util.Map;

/** InvokeData is what the Context of one invocation reports. */
final class InvokeData {
    final String requestId;
    final long deadlineMs;
    final String invokedFunctionArn;
    final String traceId;
    final String tenantId;
    final Map<String, Object> cognitoIdentity; // null when absent
    final Map<String, Object> clientContext; // null when absent
    final FunctionEnv env;

    InvokeData(String requestId, long deadlineMs, String invokedFunctionArn, String traceId, String tenantId,
            Map<String, Object> cognitoIdentity, Map<String, Object> clientContext, FunctionEnv env) {
        this.requestId = requestId;
        this.deadlineMs = deadlineMs;
        this.invokedFunctionArn = invokedFunctionArn;
        this.traceId = traceId;
        this.tenantId = tenantId;
        this.cognitoIdentity = cognitoIdentity;
        this.clientContext = clientContext;
        this.env = env;
    }

    /**
     * FunctionEnv is the function's environment the context reports, read
     * once at start.
     */
    static final class FunctionEnv {
        final String functionName;
        final String functionVersion;
        final int memoryLimitInMb;
        final String logGroupName;
        final String logStreamName;

        FunctionEnv(Map<String, String> env) {
            functionName = env.get("AWS_LAMBDA_FUNCTION_NAME");
            functionVersion = env.get("AWS_LAMBDA_FUNCTION_VERSION");
            logGroupName = env.get("AWS_LAMBDA_LOG_GROUP_NAME");
            logStreamName = env.get("AWS_LAMBDA_LOG_STREAM_NAME");
            int mem = 128;
            try {
                mem = Integer.parseInt(env.getOrDefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"));
            } catch (NumberFormatException e) {
                // Lambda always sets a number; 128 is its default.
            }
            memoryLimitInMb = mem;
        }
    }
}
