import isNumber from "is-number";

// is-number was installed by `npm install` when the bundle was exported;
// the site that imports the bundle has no npm registry.
export const handler = async () => ({
  statusCode: 200,
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ bundled: "node", isNumber: isNumber("42"), bucket: process.env.BUCKET_NAME }),
});
