// HTTP client for the Lambda Runtime API (2018-06-01).

import http from 'node:http';
import { toRapidResponse } from './errors.mjs';

const BASE = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';

export class RapidClient {
  /**
   * @param {string} address host:port from AWS_LAMBDA_RUNTIME_API, possibly
   * with a path (host:port/prefix): ESB's gateway names each container's
   * session by it, so every call goes under it.
   */
  constructor(address) {
    const slash = address.indexOf('/');
    const hostPort = slash < 0 ? address : address.slice(0, slash);
    const prefix = slash < 0 ? '' : address.slice(slash).replace(/\/+$/, '');
    const [hostname, port] = hostPort.split(':');
    this.hostname = hostname;
    this.port = Number.parseInt(port, 10);
    this.prefix = prefix;
    // One keep-alive socket: the protocol is strictly sequential. Idle pooled
    // sockets are unref'd by Node, so they never keep the event loop alive
    // (callbackWaitsForEmptyEventLoop depends on that).
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /** Long-polls for the next event: {body: string, headers}. */
  async nextInvocation() {
    const { status, headers, body } = await this.#request('GET', `${BASE}/invocation/next`);
    if (status !== 200) {
      throw new Error(`runtime api invocation/next: status ${status}: ${body.slice(0, 512)}`);
    }
    return { body, headers };
  }

  /** Posts a result. Throws (before sending) when it cannot be serialised. */
  async postInvocationResponse(result, id) {
    const body = serialize(result);
    return this.#post(`${BASE}/invocation/${encodeURIComponent(id)}/response`, body, {});
  }

  async postInvocationError(error, id) {
    const response = toRapidResponse(error);
    return this.#post(`${BASE}/invocation/${encodeURIComponent(id)}/error`, serialize(response), {
      [ERROR_TYPE_HEADER]: response.errorType,
    });
  }

  async postInitError(error) {
    const response = toRapidResponse(error);
    return this.#post(`${BASE}/init/error`, serialize(response), {
      [ERROR_TYPE_HEADER]: response.errorType,
    });
  }

  async #post(path, body, headers) {
    const res = await this.#request('POST', path, body, headers);
    if (res.status !== 202) {
      process.stderr.write(`runtime api ${path}: status ${res.status}: ${res.body.slice(0, 512)}\n`);
    }
    return res.status;
  }

  #request(method, path, body, headers = {}) {
    return new Promise((resolve, reject) => {
      const req = http.request({
        hostname: this.hostname,
        port: this.port,
        path: this.prefix + path,
        method,
        agent: this.agent,
        headers: body === undefined ? headers : {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          ...headers,
        },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** JSON text of a result; undefined becomes null, as on Lambda. */
export function serialize(value) {
  try {
    // A function or symbol stringifies to undefined; send null rather than nothing.
    return JSON.stringify(value === undefined ? null : value) ?? 'null';
  } catch {
    throw new Error('Unable to stringify response body');
  }
}
