package example;

import com.amazonaws.services.lambda.runtime.Context;
import java.util.LinkedHashMap;
import java.util.Map;

/** What every e2e handler answers. */
final class Describe {
    private Describe() {
    }

    static Map<String, Object> of(String language, Context context, String dep) {
        Map<String, Object> env = new LinkedHashMap<>();
        for (String k : new String[] {"AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION"}) {
            env.put(k, System.getenv(k));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("language", language);
        out.put("requestId", context.getAwsRequestId());
        out.put("functionName", context.getFunctionName());
        out.put("memory", String.valueOf(context.getMemoryLimitInMB()));
        out.put("remaining", context.getRemainingTimeInMillis());
        out.put("env", env);
        out.put("dep", dep);
        return out;
    }
}
