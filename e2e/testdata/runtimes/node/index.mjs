import isNumber from "is-number";

export const handler = async (event, context) => {
  if (event.fail) {
    throw new TypeError("asked to fail");
  }
  return {
    runtime: "node",
    functionName: context.functionName,
    requestId: context.awsRequestId,
    remainingPositive: context.getRemainingTimeInMillis() > 0,
    // A dependency installed by `npm install --omit=dev` during the deploy.
    echoIsNumber: isNumber(event.echo),
    echo: event.echo,
  };
};
