// What `esb invoke` and `esb logs` are checked with: a marker line in the
// log stream, memory the REPORT line must count, an error, a slow run.
export const handler = async (event, context) => {
  console.log("ops-marker", event.marker);
  const blob = Buffer.alloc((event.alloc_mb || 0) << 20, 1);
  if (event.sleep) {
    await new Promise((resolve) => setTimeout(resolve, event.sleep * 1000));
  }
  if (event.fail) {
    throw new TypeError("asked to fail");
  }
  return { echo: event.marker ?? null, runtime: "node", requestId: context.awsRequestId, allocated: blob.length };
};
