// An in-process fake of the Lambda Runtime API, for driving the real client:
// tests queue invocations, the client pulls them with GET .../next, and the
// fake records whatever the client posts back.

import http from 'node:http';
import { randomUUID } from 'node:crypto';

const BASE = '/2018-06-01/runtime';
// The path ESB's agent appends to AWS_LAMBDA_RUNTIME_API; calls without it
// are refused (403), as by ESB's gateway.
const SESSION_PREFIX = '/0123456789abcdef0123456789abcdef';

export class FakeRuntimeAPI {
  #pending = [];
  #waitingNext = [];
  #posted = [];
  #postWaiters = [];
  #server;

  async start() {
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    await new Promise((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get address() {
    const { address, port } = this.#server.address();
    return `${address}:${port}${SESSION_PREFIX}`;
  }

  async close() {
    for (const res of this.#waitingNext) res.destroy();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  /** Queues an invocation and returns its request id. */
  invoke(event, { requestId = randomUUID(), deadlineMs = Date.now() + 30_000, headers = {}, body } = {}) {
    const inv = {
      requestId,
      body: body ?? JSON.stringify(event),
      headers: {
        'Lambda-Runtime-Aws-Request-Id': requestId,
        'Lambda-Runtime-Deadline-Ms': String(deadlineMs),
        'Lambda-Runtime-Invoked-Function-Arn': 'arn:aws:lambda:us-east-1:012345678912:function:fn',
        'Content-Type': 'application/json',
        ...headers,
      },
    };
    const res = this.#waitingNext.shift();
    if (res) this.#sendInvocation(res, inv);
    else this.#pending.push(inv);
    return requestId;
  }

  /** Resolves with the first POST matching predicate. */
  waitPosted(predicate, timeoutMs = 10_000) {
    const found = this.#posted.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching post; got ${JSON.stringify(this.#posted)}`)), timeoutMs);
      this.#postWaiters.push({ predicate, resolve: (p) => { clearTimeout(timer); resolve(p); } });
    });
  }

  waitResult(requestId) {
    return this.waitPosted((p) => p.requestId === requestId);
  }

  waitInitError() {
    return this.waitPosted((p) => p.kind === 'init_error');
  }

  /** Invokes and waits for the outcome. */
  async call(event, opts) {
    return this.waitResult(this.invoke(event, opts));
  }

  #sendInvocation(res, inv) {
    res.writeHead(200, { ...inv.headers, 'Content-Length': Buffer.byteLength(inv.body) });
    res.end(inv.body);
  }

  #record(posted) {
    this.#posted.push(posted);
    this.#postWaiters = this.#postWaiters.filter((w) => {
      if (!w.predicate(posted)) return true;
      w.resolve(posted);
      return false;
    });
  }

  #handle(req, res) {
    if (!req.url.startsWith(`${SESSION_PREFIX}/`)) {
      res.writeHead(403).end('{"errorType":"MissingSessionPrefix"}');
      return;
    }
    req.url = req.url.slice(SESSION_PREFIX.length);
    if (req.method === 'GET' && req.url === `${BASE}/invocation/next`) {
      const inv = this.#pending.shift();
      if (inv) this.#sendInvocation(res, inv);
      else this.#waitingNext.push(res);
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const parts = req.url.split('/');
      let posted;
      if (req.method === 'POST' && req.url === `${BASE}/init/error`) {
        posted = { kind: 'init_error', requestId: null };
      } else if (req.method === 'POST' && parts.length === 6 && parts[3] === 'invocation' && ['response', 'error'].includes(parts[5])) {
        posted = { kind: parts[5], requestId: decodeURIComponent(parts[4]) };
      } else {
        res.writeHead(404).end('{"errorType":"NotFound"}');
        return;
      }
      Object.assign(posted, { headers: req.headers, body, json: () => JSON.parse(body) });
      this.#record(posted);
      res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"status":"OK"}');
    });
  }
}
