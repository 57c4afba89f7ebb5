package example;

import com.amazonaws.services.lambda.runtime.Context;
import java.util.Map;

/**
 * A Map handler shipped as plain sources: the deploy compiles it with
 * esb-javac against lib/ (aws-lambda-java-core's interfaces and a
 * dependency, both jars the test built).
 */
public class Handler {
    static {
        if ("1".equals(System.getenv("INIT_FAIL"))) {
            throw new IllegalStateException("init asked to fail");
        }
    }

    public Map<String, Object> handle(Map<String, Object> event, Context context) {
        System.out.println("e2e-marker " + event.get("marker"));
        if (Boolean.TRUE.equals(event.get("fail"))) {
            throw new IllegalStateException("asked to fail");
        }
        return Describe.of("java " + System.getProperty("java.specification.version"), context, dep.Greeter.greet("java"));
    }
}
