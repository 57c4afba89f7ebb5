// The handler's context object and its callback plumbing, with AWS's
// semantics: the first of callback/succeed/fail/done wins, and a successful
// callback waits for the event loop to drain unless
// context.callbackWaitsForEmptyEventLoop is set to false.

import { intoError, toFormatted } from './errors.mjs';

const HEADER = {
  clientContext: 'lambda-runtime-client-context',
  cognitoIdentity: 'lambda-runtime-cognito-identity',
  arn: 'lambda-runtime-invoked-function-arn',
  requestId: 'lambda-runtime-aws-request-id',
  deadline: 'lambda-runtime-deadline-ms',
  traceId: 'lambda-runtime-trace-id',
  tenantId: 'lambda-runtime-aws-tenant-id',
};

/** The request id of an invocation's headers; throws when missing. */
export function requestIdOf(headers) {
  const id = headers[HEADER.requestId];
  if (!id) throw new Error('invocation id is missing or invalid');
  return id;
}

/** _X_AMZN_TRACE_ID follows each invocation, and is removed when absent. */
export function forwardTraceId(headers, env) {
  const traceId = headers[HEADER.traceId];
  if (traceId) env._X_AMZN_TRACE_ID = traceId;
  else delete env._X_AMZN_TRACE_ID;
}

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

/**
 * Adds the invocation's data to the callback context, giving the object the
 * handler receives. Node lower-cases incoming header names.
 * @param {object} callbackContext from buildCallbackContext
 * @param {object} headers the invocation's headers
 * @param {object} functionEnv AWS_LAMBDA_* values captured at start
 */
export function attachInvokeData(callbackContext, headers, functionEnv) {
  const deadline = Number(headers[HEADER.deadline]);
  return Object.assign(callbackContext, {
    functionVersion: functionEnv.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: functionEnv.AWS_LAMBDA_FUNCTION_NAME,
    // A string, as on AWS (it is the environment variable's text).
    memoryLimitInMB: functionEnv.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: functionEnv.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: functionEnv.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseJsonHeader(headers[HEADER.clientContext], 'ClientContext'),
    identity: parseJsonHeader(headers[HEADER.cognitoIdentity], 'CognitoIdentity'),
    invokedFunctionArn: headers[HEADER.arn],
    awsRequestId: headers[HEADER.requestId],
    tenantId: headers[HEADER.tenantId],
    getRemainingTimeInMillis: () => deadline - Date.now(),
  });
}

/**
 * Holds the single 'beforeExit' action: Node emits 'beforeExit' when the
 * event loop has drained, which is exactly when a callback-style result may
 * be sent (or, with no result at all, when null is sent).
 */
export class BeforeExitListener {
  #action = () => {};

  set(action) {
    this.#action = action;
  }

  reset() {
    this.#action = () => {};
  }

  invoke = () => {
    this.#action();
  };
}

/**
 * Builds [callback, callbackContext, markCompleted] for one invocation.
 * @param {{postInvocationResponse: Function, postInvocationError: Function}} client
 * @param {string} id the request id
 * @param {() => void} scheduleNext starts the next invocation
 * @param {BeforeExitListener} beforeExit
 */
export function buildCallbackContext(client, id, scheduleNext, beforeExit) {
  let isCompleteInvoked = false;
  let waitForEmptyEventLoop = true;

  const postError = (err) => {
    console.error('Invoke Error', toFormatted(intoError(err)));
    client.postInvocationError(err, id).then(scheduleNext, fatal);
  };
  const complete = (result) => {
    if (isCompleteInvoked) {
      console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
      return;
    }
    isCompleteInvoked = true;
    client.postInvocationResponse(result, id).then(scheduleNext, (err) => {
      // A result JSON cannot express (BigInt, a cycle) is reported as the
      // invocation's error, as AWS's client ends up doing.
      if (err.message === 'Unable to stringify response body') postError(err);
      else fatal(err);
    });
  };

  const callback = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err);
    } else if (!waitForEmptyEventLoop) {
      complete(result);
    } else {
      beforeExit.set(() => setImmediate(() => complete(result)));
    }
  };
  const done = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) postError(err);
    else complete(result);
  };

  let finished = false;
  const once = (fn) => (...args) => {
    if (finished) return;
    finished = true;
    fn(...args);
  };
  const callbackContext = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: once((result) => done(null, result)),
    fail: once((err) => done(err === undefined || err === null ? 'handled' : err, null)),
    done: once(done),
  };
  return [once(callback), callbackContext, () => { isCompleteInvoked = true; }];
}

function fatal(err) {
  // The Runtime API is gone or broken: nothing sensible is left to do, and
  // Lambda (or RIE) restarts the runtime.
  process.stderr.write(`runtime api: ${err?.stack ?? err}\n`);
  process.exit(1);
}
