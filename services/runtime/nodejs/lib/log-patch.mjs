// console.* as on AWS's Node.js runtime: one line per call on stdout,
// "<ISO time>\t<request id>\t<LEVEL>\t<message>", newlines inside a message
// turned into "\r" so a multi-line message stays one log record.

import util from 'node:util';

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});

// AWS keeps the current request id under this global symbol; tools such as
// Powertools read it there, so it is mirrored (the runtime itself reads the
// RequestIdHolder).
const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');

/** The current invocation's request id, shared by the loop and the logger. */
export class RequestIdHolder {
  #id = undefined;

  get() {
    return this.#id;
  }

  set(id) {
    this.#id = id;
    globalThis[REQUEST_ID_SYMBOL] = id;
  }
}

function errorFields(value) {
  return {
    errorType: value?.constructor?.name ?? 'UnknownError',
    errorMessage: value.message,
    stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
  };
}

function jsonLine(requestId, level, params) {
  const record = { timestamp: new Date().toISOString(), level: level.name, requestId };
  if (params.length === 1) {
    record.message = params[0];
    try {
      return JSON.stringify(record, (_k, v) => (v instanceof Error ? { ...errorFields(v), ...v } : v));
    } catch {
      record.message = util.format(record.message);
      return JSON.stringify(record);
    }
  }
  record.message = util.format(...params);
  const err = params.find((p) => p instanceof Error);
  if (err) Object.assign(record, errorFields(err));
  return JSON.stringify(record);
}

/**
 * Replaces console's methods. Levels below AWS_LAMBDA_LOG_LEVEL become
 * no-ops; console.log is console.info, and console.fatal is added, as on AWS.
 * @param {{format: 'TEXT'|'JSON', level: string, requestId: RequestIdHolder, out: {write(s: string): void}}} opts
 */
export function patchConsole({ format, level, requestId, out }) {
  const min = LEVELS[level?.toUpperCase()] ?? LEVELS.TRACE;
  const write = (lvl, params) => {
    const line = format === 'JSON'
      ? jsonLine(requestId.get(), lvl, params)
      : `${new Date().toISOString()}\t${requestId.get()}\t${lvl.name}\t${util.format(...params)}`;
    out.write(line.replace(/\n/g, '\r') + '\n');
  };
  // (msg, ...params): a bare console.log() prints "undefined", as on AWS.
  const method = (lvl) => (lvl.priority >= min.priority ? (msg, ...params) => write(lvl, [msg, ...params]) : () => {});
  console.trace = method(LEVELS.TRACE);
  console.debug = method(LEVELS.DEBUG);
  console.info = method(LEVELS.INFO);
  console.log = console.info;
  console.warn = method(LEVELS.WARN);
  console.error = method(LEVELS.ERROR);
  console.fatal = (msg, ...params) => write(LEVELS.FATAL, [msg, ...params]);
}
