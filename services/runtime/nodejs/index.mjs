// ESB's Node.js Lambda runtime client: speaks the Lambda Runtime API like
// AWS's own client, so a function that works here works on Lambda unchanged.
// Usage: node index.mjs <handler>   (or the handler in _HANDLER)

import { createRequire } from 'node:module';
import { BeforeExitListener } from './lib/context.mjs';
import { UnhandledPromiseRejection, toFormatted } from './lib/errors.mjs';
import { RequestIdHolder, patchConsole } from './lib/log-patch.mjs';
import { RapidClient } from './lib/rapid-client.mjs';
import { EXIT_UNCAUGHT_EXCEPTION, EXIT_UNHANDLED_REJECTION, Runtime } from './lib/runtime.mjs';
import { loadHandler } from './lib/user-function.mjs';

const FUNCTION_ENV_KEYS = [
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
];

/** Everything the runtime reads from argv and the environment, read once. */
function configFrom(argv, env) {
  const handler = argv[2] || env._HANDLER;
  if (!handler) throw new Error('no handler: pass it as the first argument or set _HANDLER');
  if (!env.AWS_LAMBDA_RUNTIME_API) throw new Error('AWS_LAMBDA_RUNTIME_API is not set');
  return {
    handler,
    runtimeApi: env.AWS_LAMBDA_RUNTIME_API,
    appRoot: env.LAMBDA_TASK_ROOT || process.cwd(),
    logFormat: env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON' ? 'JSON' : 'TEXT',
    logLevel: env.AWS_LAMBDA_LOG_LEVEL,
    functionEnv: Object.fromEntries(FUNCTION_ENV_KEYS.map((k) => [k, env[k]])),
  };
}

async function main() {
  let config;
  try {
    config = configFrom(process.argv, process.env);
  } catch (err) {
    process.stderr.write(`esb lambda runtime: ${err.message}\n`);
    process.exit(2);
  }
  const requestId = new RequestIdHolder();
  patchConsole({ format: config.logFormat, level: config.logLevel, requestId, out: process.stdout });
  const client = new RapidClient(config.runtimeApi);

  // Until the first invocation, escaping errors are init errors; Runtime
  // re-points these at the invocation in progress.
  const errorCallbacks = {
    uncaughtException: (error) => client.postInitError(error).finally(() => process.exit(EXIT_UNCAUGHT_EXCEPTION)),
    unhandledRejection: (error) => client.postInitError(error).finally(() => process.exit(EXIT_UNHANDLED_REJECTION)),
  };
  process.on('uncaughtException', (error) => {
    console.error('Uncaught Exception', toFormatted(error));
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    console.error('Unhandled Promise Rejection', toFormatted(error));
    errorCallbacks.unhandledRejection(error);
  });
  const beforeExit = new BeforeExitListener();
  process.on('beforeExit', beforeExit.invoke);

  let handler;
  try {
    // A require made here, so "Require stack" in a missing-module error names
    // this file, as AWS's names its index.mjs.
    handler = await loadHandler(config.appRoot, config.handler, createRequire(import.meta.url));
  } catch (error) {
    console.error('Uncaught Exception', toFormatted(error));
    await client.postInitError(error).catch(() => {});
    process.exit(EXIT_UNCAUGHT_EXCEPTION);
  }
  new Runtime({
    client, handler, functionEnv: config.functionEnv, requestId, beforeExit, errorCallbacks,
  }).scheduleIteration();
}

await main();
