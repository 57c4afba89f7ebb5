package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.Map;

/**
 * A RequestHandler the test compiles into function.jar (with javac,
 * against aws-lambda-java-core's interfaces it compiled too): the handler
 * names the class alone.
 */
public class OrderHandler implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    static {
        if ("1".equals(System.getenv("INIT_FAIL"))) {
            throw new IllegalStateException("init asked to fail");
        }
    }

    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        context.getLogger().log("e2e-marker " + event.get("marker") + "\n");
        if (Boolean.TRUE.equals(event.get("fail"))) {
            throw new IllegalStateException("asked to fail");
        }
        return Describe.of("java " + System.getProperty("java.specification.version"), context, dep.Greeter.greet("java"));
    }
}
