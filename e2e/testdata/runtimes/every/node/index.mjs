// A dependency installed by `npm install --omit=dev` during the deploy.
import isNumber from "is-number";

if (process.env.INIT_FAIL === "1") {
  throw new TypeError("init asked to fail");
}

const ENV_KEYS = ["AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION"];

export const handler = async (event, context) => {
  console.log("e2e-marker", event.marker);
  if (event.fail) {
    throw new TypeError("asked to fail");
  }
  return {
    language: "node " + process.version,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    memory: String(context.memoryLimitInMB),
    remaining: context.getRemainingTimeInMillis(),
    env: Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]])),
    dep: isNumber(42) ? "hello node from is-number" : "is-number broken",
  };
};
