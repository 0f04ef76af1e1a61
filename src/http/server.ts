import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAuthorization } from '../auth/credentials.js';
import { type Allowance, type RateLimit, RateLimiter } from '../auth/rate-limit.js';
import type { Database } from '../db/client.js';
import { unreadyReport } from '../db/conditions.js';
import { DatabaseTimeoutError } from '../db/postgres.js';
import { describeError, log } from '../log.js';
import { VERSION } from '../version.js';
import { BodyAbortedError, BodyTooLargeError, readBody } from './body.js';
import { answerOperation, type GraphQLServer, MAX_BATCH, resultMediaType } from './graphql.js';
import { send } from './respond.js';
import type { RestApi } from './rest.js';
import { GraphQLWebSocket } from './websocket.js';

/** How long /ready waits for the database before answering 503. */
export const READY_TIMEOUT_MS = 1000;

export interface HttpOptions {
  yoga: GraphQLServer;
  rest: RestApi;
  database: Database;
  maxRequestBytes: number;
  rateLimit: RateLimit;
  /** Origins a browser may call from (CORS); '*' for any; empty for none. */
  corsOrigins: readonly string[];
  /** False while the process still waits for its database at start. */
  ready: () => boolean;
  /** While not ready: why the last attempt to reach the database failed (none yet: undefined). */
  startupError?: () => unknown;
  /** Proxies in front of the service that append to X-Forwarded-For (0: trust none). */
  trustProxyHops: number;
  /** Ends every live subscription (at shutdown: event streams would otherwise hold it up). */
  endSubscriptions(): void;
  /** Checks a credential, as for a request (WebSocket connections are checked when they open). */
  authenticate(authorization: string | undefined, address: string): unknown;
}

const JSON_BODY = /^application\/(graphql\+)?json\b/i;

/** A top-level GraphQL error in the contract's shape, for refusals made before yoga runs. */
function graphqlError(message: string, code: string) {
  return { errors: [{ message, extensions: { code } }] };
}

/** A refusal in the shape the route speaks: GraphQL's errors, or the REST API's `{"error": …}`. */
function refusalBody(rest: boolean, message: string, code: string) {
  return rest ? { error: message } : graphqlError(message, code);
}

function timeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DatabaseTimeoutError(ms)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * The HTTP front door: routing, CORS, the per-credential rate limit, capped bodies, readiness,
 * graceful shutdown. Plain JSON POSTs to /graphql take a lean path into yoga's pipeline; GET,
 * GraphiQL, batches and event streams go through yoga's own adapter.
 */
export class HttpServer {
  readonly server: Server;
  private readonly limiter: RateLimiter;
  private readonly inFlight = new Set<ServerResponse>();
  private readonly websocket: GraphQLWebSocket;
  private stopping = false;

  constructor(private readonly options: HttpOptions) {
    this.limiter = new RateLimiter(options.rateLimit);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        log.error('request failed', error);
        send(res, 500, graphqlError('Unexpected error.', 'INTERNAL_SERVER_ERROR'));
      });
    });
    this.websocket = new GraphQLWebSocket(options.yoga, {
      address: (req) => clientAddress(req, options.trustProxyHops),
      authenticate: options.authenticate,
      // Each operation over a socket is a request for the rate limit, as over HTTP.
      admit: (req, authorization) => {
        if (!this.limiter.enabled) return null;
        const allowance = this.limiter.take(rateKey(authorization, clientAddress(req, options.trustProxyHops)));
        return allowance.allowed ? null : this.tooManyRequests(allowance);
      },
    });
    this.server.on('upgrade', (req, socket, head) => {
      // Node stops listening for this socket's errors once it is handed over: a reset is ours.
      socket.on('error', () => socket.destroy());
      const path = (req.url ?? '/').split('?')[0];
      const refuse = (status: string) => {
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      };
      if (path !== '/graphql') return refuse('404 Not Found');
      if (this.stopping || !options.ready()) return refuse('503 Service Unavailable');
      // Opening a socket is a request for the rate limit too.
      if (this.limiter.enabled) {
        const allowance = this.limiter.take(rateKey(req.headers.authorization, clientAddress(req, options.trustProxyHops)));
        if (!allowance.allowed) return refuse(`429 Too Many Requests\r\nRetry-After: ${allowance.retryAfterSeconds}`);
      }
      this.websocket.upgrade(req, socket, head);
    });
  }

  /** Listens; resolves with the base URL. A taken port rejects with the listen error. */
  async listen(port: number, host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${shownHost}:${address.port}`;
  }

  /**
   * Stops accepting connections and closes idle ones at once; answers in flight finish with
   * `Connection: close`. Those still unanswered after `graceMs` get a 503, then every socket closes.
   */
  async shutdown(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    this.options.endSubscriptions();
    const sockets = this.websocket.close(graceMs);
    for (const res of this.inFlight) {
      if (!res.headersSent) res.setHeader('connection', 'close');
      // An event stream already under way (ending now, with the subscriptions): its connection
      // closes once the stream has.
      else {
        const socket = res.socket;
        res.once('finish', () => socket?.end());
      }
    }
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const res of this.inFlight) {
        send(res, 503, graphqlError('The server is shutting down; retry on another instance', 'SERVICE_UNAVAILABLE'), {
          connection: 'close',
          'retry-after': '1',
        });
      }
      setImmediate(() => this.server.closeAllConnections());
    }, graceMs);
    timer.unref();
    await Promise.all([closed, sockets]);
    clearTimeout(timer);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight.add(res);
    res.once('close', () => this.inFlight.delete(res));
    if (this.stopping) res.setHeader('connection', 'close');
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (!this.cors(req, res)) return;
    if (path === '/health') return send(res, 200, { status: 'ok', version: VERSION });
    if (path === '/ready') return this.ready(res);
    const rest = path.startsWith('/api/');
    if (!rest && path !== '/graphql') return send(res, 404, { error: 'Not found: the GraphQL endpoint is /graphql, the REST API /api/v1' });
    if (!this.options.ready()) {
      return send(res, 503, refusalBody(rest, 'The service is starting: its database is not ready yet (GET /ready says why)', 'SERVICE_UNAVAILABLE'), {
        'retry-after': '1',
      });
    }
    if (path === '/graphql') return this.graphql(req, res);
    const address = clientAddress(req, this.options.trustProxyHops);
    if (!this.admit(res, this.limiter.enabled ? rateKey(req.headers.authorization, address) : '', 1, false, true)) return;
    return this.options.rest.serve(req, res, path, query === -1 ? '' : url.slice(query + 1), address);
  }

  /** CORS for the origins configured; answers preflights. False when the request is answered. */
  private cors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    const { corsOrigins } = this.options;
    const allowed = origin !== undefined && (corsOrigins.includes('*') || corsOrigins.includes(origin));
    // The answer differs by Origin whenever origins are listed: caches must keep them apart.
    if (corsOrigins.length > 0 && !corsOrigins.includes('*')) res.setHeader('vary', 'Origin');
    if (allowed) {
      res.setHeader('access-control-allow-origin', corsOrigins.includes('*') ? '*' : origin);
      res.setHeader('access-control-expose-headers', 'ETag, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset');
    }
    if (req.method !== 'OPTIONS') return true;
    if (allowed) {
      res.setHeader('access-control-allow-methods', 'GET, POST, PATCH, OPTIONS');
      res.setHeader('access-control-allow-headers', 'Authorization, Content-Type, Accept, If-Match');
      res.setHeader('access-control-max-age', '600');
    }
    res.writeHead(204, { allow: 'GET, POST, PATCH, OPTIONS' });
    res.end();
    return false;
  }

  private async ready(res: ServerResponse): Promise<void> {
    try {
      if (!this.options.ready()) throw this.options.startupError?.() ?? 'the service is migrating its database';
      await timeout(this.options.database.ping(), READY_TIMEOUT_MS);
      send(res, 200, { status: 'ready' });
    } catch (error) {
      send(res, 503, unreadyReport(this.options.database.diagnose(error), describeError(error)), { 'retry-after': '1' });
    }
  }

  /**
   * The rate limit of the credential (of the client address without one): `cost` tokens, or a 429.
   * Every answer carries the x-ratelimit-* headers. `check` looks without taking.
   */
  private admit(res: ServerResponse, key: string, cost: number, check = false, rest = false): boolean {
    if (!this.limiter.enabled) return true;
    const allowance: Allowance = check ? this.limiter.check(key, cost) : this.limiter.take(key, cost);
    res.setHeader('x-ratelimit-limit', String(allowance.limit));
    res.setHeader('x-ratelimit-remaining', String(allowance.remaining));
    res.setHeader('x-ratelimit-reset', String(allowance.resetSeconds));
    if (allowance.allowed) return true;
    send(res, 429, refusalBody(rest, this.tooManyRequests(allowance), 'RATE_LIMITED'), {
      'retry-after': String(allowance.retryAfterSeconds),
    });
    return false;
  }

  private tooManyRequests(allowance: Allowance): string {
    return `Too many requests: at most ${this.limiter.limit.perSecond} per second per credential; retry after ${allowance.retryAfterSeconds} s`;
  }

  private async graphql(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { yoga, maxRequestBytes } = this.options;
    const address = clientAddress(req, this.options.trustProxyHops);
    const key = this.limiter.enabled ? rateKey(req.headers.authorization, address) : '';
    const mediaType = resultMediaType(req.headers.accept);
    const lean = req.method === 'POST' && JSON_BODY.test(req.headers['content-type'] ?? '') && mediaType !== null;
    if (!lean) {
      if (this.admit(res, key, 1)) await yoga(req, res, { address });
      return;
    }
    if (!this.admit(res, key, 1, true)) return;
    let body: Buffer;
    try {
      body = await readBody(req, maxRequestBytes);
    } catch (error) {
      if (error instanceof BodyAbortedError) return void res.destroy();
      if (!(error instanceof BodyTooLargeError)) throw error;
      // The rest of the body is never read: the connection closes after this answer.
      return send(res, 413, graphqlError(error.message, 'PAYLOAD_TOO_LARGE'));
    }
    let params: unknown;
    try {
      params = JSON.parse(body.toString('utf8'));
    } catch {
      return send(res, 400, graphqlError('Malformed JSON in the request body', 'BAD_REQUEST'));
    }
    // A batch counts as many requests as it holds operations.
    const cost = Array.isArray(params) && params.length > 1 && params.length <= MAX_BATCH ? params.length : 1;
    if (!this.admit(res, key, cost)) return;
    if (!Array.isArray(params)) return answerOperation(yoga, params, mediaType!, req, res, address);
    const response = await yoga.fetch(
      `http://localhost${req.url}`,
      { method: 'POST', headers: req.headers as Record<string, string>, body },
      { req, res, address },
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  }
}

/** The rate limit's key: the credential itself however it is spelled, else the client address. */
function rateKey(authorization: string | undefined, address: string): string {
  try {
    return 'credential:' + createHash('sha256').update(parseAuthorization(authorization)).digest('base64url');
  } catch {
    return `address:${address}`;
  }
}

/**
 * The client's address: the socket's, or behind `hops` trusted proxies the address the outermost
 * of them saw (X-Forwarded-For, counted from the right, so a client cannot forge it).
 */
export function clientAddress(req: IncomingMessage, hops: number): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  const header = req.headers['x-forwarded-for'];
  if (hops <= 0 || !header) return peer;
  const chain = (Array.isArray(header) ? header.join(',') : header).split(',').map((a) => a.trim()).filter(Boolean);
  return chain[chain.length - hops] ?? chain[0] ?? peer;
}
