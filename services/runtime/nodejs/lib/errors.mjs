// Error types and error shapes of AWS's Node.js runtime client, so error
// payloads and logs read the same here as on Lambda.

import util from 'node:util';

// Runtime errors are named "Runtime.<Class>" on the prototype, as on AWS,
// so error.name (and so errorType) carries the prefix.
export class ImportModuleError extends Error {}
export class HandlerNotFound extends Error {}
export class MalformedHandlerName extends Error {}
export class UserCodeSyntaxError extends Error {}
export class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
for (const cls of [ImportModuleError, HandlerNotFound, MalformedHandlerName, UserCodeSyntaxError, UnhandledPromiseRejection]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function looksLikeError(obj) {
  return Boolean(obj) &&
    typeof obj.name === 'string' && obj.name !== '' &&
    typeof obj.message === 'string' && obj.message !== '' &&
    typeof obj.stack === 'string' && obj.stack !== '';
}

// Lambda's header parser rejects DEL; AWS escapes it the same way.
const escapeDel = (s) => (typeof s === 'string' ? s.replaceAll('\x7F', '%7F') : s);

/** The body of an /error or /init/error post: {errorType, errorMessage, trace}. */
export function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: escapeDel(error.name),
        errorMessage: escapeDel(error.message),
        trace: escapeDel(error.stack).split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

export function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

// Error's own name/message/stack are not enumerable; surface them (and any
// user fields) for the log line, as AWS does.
function withEnumerableProperties(value) {
  if (!(value instanceof Error)) return value;
  const out = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
  if (typeof value.stack === 'string') out.stack = value.stack.split('\n');
  return out;
}

/** The "\t{json}" suffix AWS logs after "Invoke Error" / "Uncaught Exception". */
export function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}
