// The runtime loop: one invocation at a time, the next one scheduled when the
// current one has been reported.

import { attachInvokeData, buildCallbackContext, forwardTraceId, requestIdOf } from './context.mjs';

// Exit codes of AWS's client for errors that escape the handler.
export const EXIT_UNCAUGHT_EXCEPTION = 129;
export const EXIT_UNHANDLED_REJECTION = 128;

export class Runtime {
  /**
   * @param {object} deps
   * @param {import('./rapid-client.mjs').RapidClient} deps.client
   * @param {Function} deps.handler the user's function
   * @param {object} deps.functionEnv AWS_LAMBDA_* values for the context
   * @param {import('./log-patch.mjs').RequestIdHolder} deps.requestId
   * @param {import('./context.mjs').BeforeExitListener} deps.beforeExit
   * @param {{uncaughtException: Function, unhandledRejection: Function}} deps.errorCallbacks
   *   process-level error hooks, re-pointed at the current invocation
   */
  constructor({ client, handler, functionEnv, requestId, beforeExit, errorCallbacks }) {
    this.client = client;
    this.handler = handler;
    this.functionEnv = functionEnv;
    this.requestId = requestId;
    this.beforeExit = beforeExit;
    this.errorCallbacks = errorCallbacks;
  }

  scheduleIteration() {
    setImmediate(() => {
      this.handleOnce().catch((err) => {
        console.log(`Unexpected Top Level Error: ${err}`);
        this.errorCallbacks.uncaughtException(err);
      });
    });
  }

  async handleOnce() {
    const { body, headers } = await this.client.nextInvocation();
    const id = requestIdOf(headers);
    this.requestId.set(id);
    const [callback, callbackContext, markCompleted] = buildCallbackContext(
      this.client, id, () => this.scheduleIteration(), this.beforeExit,
    );
    try {
      this.#pointErrorCallbacksAt(id);
      // A handler that neither returns a promise nor calls back answers null
      // once the event loop drains.
      this.beforeExit.set(() => {
        markCompleted();
        this.client.postInvocationResponse(null, id).then(() => this.scheduleIteration());
      });
      forwardTraceId(headers, process.env);
      const context = attachInvokeData(callbackContext, headers, this.functionEnv);
      const result = this.handler(JSON.parse(body), context, callback);
      if (result && typeof result.then === 'function') {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  #pointErrorCallbacksAt(id) {
    this.errorCallbacks.uncaughtException = (error) => {
      this.client.postInvocationError(error, id).finally(() => process.exit(EXIT_UNCAUGHT_EXCEPTION));
    };
    this.errorCallbacks.unhandledRejection = (error) => {
      this.client.postInvocationError(error, id).finally(() => process.exit(EXIT_UNHANDLED_REJECTION));
    };
  }
}
