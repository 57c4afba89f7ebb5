// Runs the real runtime client (a child process) against the fake Runtime API.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FakeRuntimeAPI } from './fake-api.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const INDEX = path.join(HERE, '..', 'index.mjs');
const TASK = path.join(HERE, 'fixtures', 'task');
const LAYER_MODULES = path.join(HERE, 'fixtures', 'opt', 'nodejs', 'node_modules');

/** Starts a fake API and the client for handler; both end with the test. */
async function start(t, handler, env = {}) {
  const api = await new FakeRuntimeAPI().start();
  const child = spawn(process.execPath, [INDEX, handler], {
    cwd: TASK,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      AWS_LAMBDA_RUNTIME_API: api.address,
      LAMBDA_TASK_ROOT: TASK,
      NODE_PATH: LAYER_MODULES,
      AWS_LAMBDA_FUNCTION_NAME: 'fn',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/fn',
      AWS_LAMBDA_LOG_STREAM_NAME: '2026/01/01/[$LATEST]abc',
      ...env,
    },
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await api.close();
  });
  // Child output arrives on a pipe, independently of the HTTP posts: wait
  // for a line rather than assume it is there once the result is.
  const waitOutput = async (re, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(output)) {
      if (Date.now() > deadline) throw new Error(`output never matched ${re}:\n${output}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return output;
  };
  return { api, child, exited, output: () => output, waitOutput };
}

describe('invoke', { concurrency: true }, () => {
  it('returns an async handler result as JSON', async (t) => {
    const { api } = await start(t, 'app.echo');
    const posted = await api.call({ name: 'esb' });
    assert.equal(posted.kind, 'response');
    assert.equal(posted.body, '{"ok":true,"event":{"name":"esb"}}');
  });

  it('keeps module state between warm invocations', async (t) => {
    const { api } = await start(t, 'app.count');
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await api.call({})).json());
    assert.deepEqual(results.map((r) => r.invocations), [1, 2, 3]);
    assert.equal(new Set(results.map((r) => r.pid)).size, 1);
  });

  it('reports a thrown error with AWS shape and logs it', async (t) => {
    const { api, waitOutput } = await start(t, 'app.fail');
    const posted = await api.call({ amount: 5 });
    assert.equal(posted.kind, 'error');
    const err = posted.json();
    assert.deepEqual(Object.keys(err), ['errorType', 'errorMessage', 'trace']);
    assert.equal(err.errorType, 'PaymentDeclined');
    assert.equal(err.errorMessage, 'card declined for 5');
    assert.equal(err.trace[0], 'PaymentDeclined: card declined for 5');
    assert.ok(err.trace.some((l) => l.includes('charge')), err.trace.join('\n'));
    assert.equal(posted.headers['lambda-runtime-function-error-type'], 'PaymentDeclined');
    assert.equal((await api.call({})).kind, 'error', 'the process keeps serving');
    await waitOutput(/\tERROR\tInvoke Error \t\{"errorType":"PaymentDeclined","errorMessage":"card declined for 5"/);
  });

  it('reports a synchronous throw', async (t) => {
    const { api } = await start(t, 'app.syncThrow');
    const err = (await api.call({})).json();
    assert.equal(err.errorType, 'TypeError');
    assert.equal(err.errorMessage, 'sync boom');
  });

  it('reports a rejection with a non-error reason', async (t) => {
    const { api } = await start(t, 'app.rejectString');
    assert.deepEqual((await api.call({})).json(), { errorType: 'string', errorMessage: 'plain string reason', trace: [] });
  });

  it('reports an unserialisable result as an error', async (t) => {
    const { api } = await start(t, 'app.bigint');
    const posted = await api.call({});
    assert.equal(posted.kind, 'error');
    assert.equal(posted.json().errorMessage, 'Unable to stringify response body');
  });

  it('reports invalid event JSON as an invocation error', async (t) => {
    const { api } = await start(t, 'app.echo');
    const posted = await api.call(null, { body: '{not json' });
    assert.equal(posted.json().errorType, 'SyntaxError');
  });

  it('sets _X_AMZN_TRACE_ID per invocation', async (t) => {
    const { api } = await start(t, 'app.trace');
    const a = await api.call({}, { headers: { 'Lambda-Runtime-Trace-Id': 'Root=1-aaa;Sampled=1' } });
    assert.equal(a.json(), 'Root=1-aaa;Sampled=1');
    const b = await api.call({}, { headers: { 'Lambda-Runtime-Trace-Id': 'Root=1-bbb;Sampled=0' } });
    assert.equal(b.json(), 'Root=1-bbb;Sampled=0');
    assert.equal((await api.call({})).json(), null);
  });
});

describe('context', { concurrency: true }, () => {
  it('carries the function and invocation fields', async (t) => {
    const { api } = await start(t, 'app.describeContext');
    const deadlineMs = Date.now() + 5000;
    const cc = { custom: { k: 'v' }, env: {}, client: { installation_id: 'inst-1' } };
    const ident = { cognitoIdentityId: 'id-1', cognitoIdentityPoolId: 'pool-1' };
    const got = (await api.call({}, {
      requestId: 'req-ctx-1',
      deadlineMs,
      headers: {
        'Lambda-Runtime-Client-Context': JSON.stringify(cc),
        'Lambda-Runtime-Cognito-Identity': JSON.stringify(ident),
      },
    })).json();
    assert.equal(got.functionName, 'fn');
    assert.equal(got.functionVersion, '$LATEST');
    assert.equal(got.invokedFunctionArn, 'arn:aws:lambda:us-east-1:012345678912:function:fn');
    assert.equal(got.memoryLimitInMB, '256');
    assert.equal(got.awsRequestId, 'req-ctx-1');
    assert.equal(got.logGroupName, '/aws/lambda/fn');
    assert.equal(got.logStreamName, '2026/01/01/[$LATEST]abc');
    assert.deepEqual(got.identity, ident);
    assert.deepEqual(got.clientContext, cc);
    assert.equal(got.callbackWaitsForEmptyEventLoop, true);
    assert.ok(got.hasDone && got.hasSucceed && got.hasFail);
    assert.ok(got.first <= 5000 && got.first > 0, `first=${got.first}`);
    assert.ok(got.first - got.second >= 40, 'remaining time must go down while the handler runs');
    assert.ok(Math.abs((deadlineMs - got.nowMs) - got.second) <= 20, 'remaining = deadline - now');
  });

  it('leaves identity and clientContext undefined without headers', async (t) => {
    const { api } = await start(t, 'app.describeContext');
    const got = (await api.call({})).json();
    assert.equal(got.identity, null);
    assert.equal(got.clientContext, null);
  });
});

describe('handler styles', { concurrency: true }, () => {
  it('waits for the event loop before sending a callback result', async (t) => {
    const { api } = await start(t, 'app.callbackWaits');
    assert.deepEqual((await api.call({})).json(), { timerRanBeforeResponse: true });
    assert.deepEqual((await api.call({})).json(), { timerRanBeforeResponse: true }, 'and again, warm');
  });

  it('sends at once when callbackWaitsForEmptyEventLoop is false', async (t) => {
    const { api } = await start(t, 'app.callbackNoWait');
    const started = Date.now();
    assert.deepEqual((await api.call({})).json(), { sent: 'immediately' });
    assert.ok(Date.now() - started < 2000, 'must not wait for the 5 s timer');
    assert.deepEqual((await api.call({})).json(), { sent: 'immediately' });
  });

  it('reports a callback error', async (t) => {
    const { api } = await start(t, 'app.callbackError');
    const posted = await api.call({});
    assert.equal(posted.kind, 'error');
    assert.equal(posted.json().errorType, 'RangeError');
  });

  it('supports context.succeed and context.fail', async (t) => {
    const ok = await start(t, 'app.contextSucceed');
    assert.deepEqual((await ok.api.call({})).json(), { via: 'succeed' });
    const bad = await start(t, 'app.contextFail');
    assert.equal((await bad.api.call({})).json().errorMessage, 'via fail');
  });

  it('answers null when a sync handler neither returns nor calls back', async (t) => {
    const { api } = await start(t, 'app.noResult');
    const posted = await api.call({});
    assert.equal(posted.kind, 'response');
    assert.equal(posted.body, 'null');
    assert.equal((await api.call({})).body, 'null');
  });

  it('awaits a promise from a non-async handler', async (t) => {
    const { api } = await start(t, 'app.promiseNotAsync');
    assert.equal((await api.call({})).json(), 'from a plain promise');
  });

  it('lets only the first completion count', async (t) => {
    const { api } = await start(t, 'app.firstCallWins');
    assert.equal((await api.call({})).json(), 'first');
    assert.equal((await api.call({})).json(), 'first');
  });

  it('reports an unhandled rejection and exits 128', async (t) => {
    const { api, exited } = await start(t, 'app.unhandledRejection');
    const posted = await api.call({});
    assert.equal(posted.kind, 'error');
    assert.equal(posted.json().errorType, 'Runtime.UnhandledPromiseRejection');
    assert.equal(posted.json().errorMessage, 'Error: nobody awaits me');
    assert.equal(await exited, 128);
  });

  it('reports an uncaught exception and exits 129', async (t) => {
    const { api, exited } = await start(t, 'app.uncaughtLater');
    const posted = await api.call({});
    assert.equal(posted.json().errorMessage, 'thrown from a timer');
    assert.equal(await exited, 129);
  });
});

describe('handler resolution', { concurrency: true }, () => {
  const cases = [
    { name: 'ES module (.mjs)', handler: 'esm/handler.handler', check: (r) => r.kind === 'esm' },
    { name: 'CommonJS (.cjs)', handler: 'cjs/handler.handler', check: (r) => r.kind === 'cjs' },
    { name: '.js with package.json type module', handler: 'typemodule/app.handler', check: (r) => r.kind === 'js as esm' && r.isModule },
    { name: 'nested path', handler: 'src/handlers/nested.handler', check: (r) => r.where === 'src/handlers/nested' },
    { name: 'nested export', handler: 'app.nested.deep.fn', check: (r) => r === 'nested export' },
    { name: 'layer module via NODE_PATH', handler: 'app.fromLayer', check: (r) => r === 'hello from layer' },
  ];
  for (const c of cases) {
    it(c.name, async (t) => {
      const { api } = await start(t, c.handler);
      const got = (await api.call({})).json();
      assert.ok(c.check(got), JSON.stringify(got));
    });
  }

  it('keeps ESM module state warm and passes the context', async (t) => {
    const { api } = await start(t, 'esm/handler.handler');
    await api.call({});
    const got = (await api.call({}, { requestId: 'req-esm-2' })).json();
    assert.deepEqual(got, { kind: 'esm', calls: 2, requestId: 'req-esm-2' });
  });
});

describe('init errors', { concurrency: true }, () => {
  const cases = [
    { name: 'missing module', handler: 'nosuchmodule.handler', type: 'Runtime.ImportModuleError', message: /^Error: Cannot find module 'nosuchmodule'/ },
    { name: 'missing dependency', handler: 'broken/requiresMissing.handler', type: 'Runtime.ImportModuleError', message: /Cannot find module 'a-dependency-nobody-installed'/ },
    { name: 'missing export', handler: 'app.nope', type: 'Runtime.HandlerNotFound', message: /^app\.nope is undefined or not exported$/ },
    { name: 'export not a function', handler: 'app.notAFunction', type: 'Runtime.HandlerNotFound', message: /^app\.notAFunction is not a function$/ },
    { name: 'syntax error', handler: 'broken/syntax.handler', type: 'Runtime.UserCodeSyntaxError', message: /^SyntaxError: / },
    { name: 'no dot', handler: 'app', type: 'Runtime.MalformedHandlerName', message: /^Bad handler$/ },
    { name: 'relative path', handler: '../app.echo', type: 'Runtime.MalformedHandlerName', message: /is not a valid handler name/ },
    { name: 'throw at load', handler: 'broken/throwsAtLoad.handler', type: 'Error', message: /^MISSING_SETTING$/ },
  ];
  for (const c of cases) {
    it(c.name, async (t) => {
      const { api, exited, waitOutput } = await start(t, c.handler);
      const posted = await api.waitInitError();
      const err = posted.json();
      assert.equal(err.errorType, c.type);
      assert.match(err.errorMessage, c.message);
      assert.ok(Array.isArray(err.trace) && err.trace.length > 0);
      assert.equal(posted.headers['lambda-runtime-function-error-type'], c.type);
      assert.equal(await exited, 129);
      await waitOutput(new RegExp(`\\tundefined\\tERROR\\tUncaught Exception \\t\\{"errorType":"${c.type.replace('.', '\\.')}"`));
    });
  }
});

describe('logging', { concurrency: true }, () => {
  it('formats console output like AWS', async (t) => {
    const { api, waitOutput } = await start(t, 'app.chatty');
    const requestId = api.invoke({ n: 1 });
    await api.waitResult(requestId);
    const lines = (await waitOutput(/structured: true/)).split('\n');
    const log = lines.find((l) => l.includes('hello from console.log'));
    const [ts, rid, level, msg] = log.split('\t');
    assert.match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(rid, requestId);
    assert.equal(level, 'INFO');
    assert.equal(msg, 'hello from console.log 1');
    assert.ok(lines.some((l) => l.endsWith(`\t${requestId}\tERROR\tline one\rline two`)), 'multi-line message stays one line');
    assert.ok(lines.some((l) => l.endsWith('\tDEBUG\tdebug detail')));
    assert.ok(lines.some((l) => l.endsWith('\tINFO\t{ structured: true }')));
  });

  it('drops levels below AWS_LAMBDA_LOG_LEVEL', async (t) => {
    const { api, waitOutput } = await start(t, 'app.chatty', { AWS_LAMBDA_LOG_LEVEL: 'WARN' });
    await api.call({ n: 1 });
    // The ERROR line comes after the others, so they would be there by now.
    const output = await waitOutput(/\tERROR\tline one/);
    assert.doesNotMatch(output, /hello from console\.log/);
    assert.doesNotMatch(output, /debug detail/);
  });

  it('writes JSON records with AWS_LAMBDA_LOG_FORMAT=JSON', async (t) => {
    const { api, waitOutput } = await start(t, 'app.chatty', { AWS_LAMBDA_LOG_FORMAT: 'JSON' });
    const requestId = api.invoke({ n: 2 });
    await api.waitResult(requestId);
    const records = (await waitOutput(/"structured":true/)).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const rec = records.find((r) => r.message === 'hello from console.log 2');
    assert.equal(rec.level, 'INFO');
    assert.equal(rec.requestId, requestId);
    assert.deepEqual(records.find((r) => r.message?.structured), {
      timestamp: records.find((r) => r.message?.structured).timestamp, level: 'INFO', requestId, message: { structured: true },
    });
  });
});
