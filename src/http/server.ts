import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendNodeResponse } from '@whatwg-node/server';
import { getOperationAST, parse } from 'graphql';
import type { Caller, Credential } from '../auth/credentials.js';
import { type Allowance, type RateLimit, RateLimiter } from '../auth/rate-limit.js';
import type { Config, Limits } from '../config.js';
import type { Database } from '../db/client.js';
import { unreadyReport } from '../db/conditions.js';
import { within } from '../db/within.js';
import { describeError, log } from '../log.js';
import { metrics } from '../telemetry/metrics.js';
import { VERSION } from '../version.js';
import { BodyAbortedError, BodyNotUtf8Error, BodyTooFragmentedError, BodyTooLargeError, readBody } from './body.js';
import { rateKey } from './client-address.js';
import { capConnections } from './connections.js';
import { cors } from './cors.js';
import { EnvironmentSlots, type Release } from './environment-slots.js';
import { asksForInlineTrace, type GraphQLServers, MAX_BATCH, type Served } from './graphql.js';
import { answerOperation, resultMediaType } from './lean-path.js';
import { serveMetrics } from './metrics-endpoint.js';
import { OPERATION_LIMITS } from './plugins/operation-limits.js';
import { observeRequest, type RequestRecord, routeOf } from './request-log.js';
import { send } from './respond.js';
import type { RestApi } from './rest/api.js';
import { GraphQLWebSocket } from './websocket.js';

/** How long /ready waits for the database before answering 503. */
export const READY_TIMEOUT_MS = 1000;
/** A socket on which nothing moves this long is closed (a peer that stopped reading its answers). */
const SOCKET_IDLE_MS = 30_000;

export interface HttpOptions {
  graphql: GraphQLServers;
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
  /** The caller of a request, from its Authorization header; never throws. */
  caller(authorization: string | undefined): Caller | Promise<Caller>;
  /** Checks a credential (WebSocket connections are checked when they open). */
  authenticate(authorization: string | undefined): Credential | Promise<Credential>;
  limits: Limits;
  /** /metrics: on its own port (then not here) or here, and the token it asks for. */
  metrics: Config['metrics'];
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

/** A request refused by the rate limit, counted by whose budget it spent: its credential's or its address's. */
const countRateRefusal = (key: string) => metrics.refusals.inc({ kind: key.startsWith('address:') ? 'address' : 'credential' });

/**
 * The HTTP front door: routing, CORS, the per-credential rate limit, capped bodies, readiness,
 * graceful shutdown. Plain JSON POSTs to /graphql take a lean path into yoga's pipeline; GET,
 * GraphiQL, batches, event streams and requests for Apollo's inline trace go through yoga's own
 * adapter.
 */
export class HttpServer {
  readonly server: Server;
  private readonly limiter: RateLimiter;
  private readonly slots: EnvironmentSlots;
  private readonly inFlight = new Set<ServerResponse>();
  private readonly websocket: GraphQLWebSocket;
  private stopping = false;

  constructor(private readonly options: HttpOptions) {
    const { limits } = options;
    this.limiter = new RateLimiter(options.rateLimit);
    this.slots = new EnvironmentSlots(limits.environmentConcurrency, limits.environmentQueue);
    // Headers and body within the request timeout (else 408, from Node); a socket on which nothing
    // moves for SOCKET_IDLE_MS (a peer that stopped reading its answers) is closed.
    const timeouts = {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.requestTimeoutMs,
      // How often Node looks for requests past their timeout (its default, 30 s, would let one
      // outlive a 10 s timeout by half a minute).
      connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.requestTimeoutMs / 4)),
    };
    this.server = createServer(timeouts, (req, res) => {
      this.handle(req, res).catch((error) => {
        log.error('request failed', error);
        send(res, 500, graphqlError('Unexpected error.', 'INTERNAL_SERVER_ERROR'));
      });
    });
    this.server.timeout = SOCKET_IDLE_MS;
    capConnections(this.server, limits.maxConnections, limits.maxConnectionsPerAddress);
    this.websocket = new GraphQLWebSocket(options.graphql.yoga, {
      authenticate: options.authenticate,
      maxPayloadBytes: options.maxRequestBytes,
      messagesPerSecond: limits.websocketMessagesPerSecond,
      bufferBytes: limits.websocketBufferBytes,
      perEnvironment: limits.websocketsPerEnvironment,
      slot: (credential) => this.slots.acquire(credential.principal.environmentId),
      // Each operation over a socket is a request for the rate limit, as over HTTP.
      admit: (credential) => {
        if (!this.limiter.enabled) return null;
        const allowance = this.limiter.take(credential.id);
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
      // Opening a socket is a request for the rate limit (of its credential, if the upgrade carries
      // a valid one; else of its address); each operation over it is one more.
      void (async () => {
        if (this.limiter.enabled) {
          const found = options.caller(req.headers.authorization);
          const key = rateKey(found instanceof Promise ? await found : found, req, options.trustProxyHops);
          const allowance = this.limiter.take(key);
          if (!allowance.allowed) {
            countRateRefusal(key);
            return refuse(`429 Too Many Requests\r\nRetry-After: ${allowance.retryAfterSeconds}`);
          }
        }
        if (!socket.destroyed) this.websocket.upgrade(req, socket, head);
      })();
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

  private handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight.add(res);
    res.once('close', () => this.inFlight.delete(res));
    if (this.stopping) res.setHeader('connection', 'close');
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const search = query === -1 ? '' : url.slice(query + 1);
    return observeRequest(req, res, routeOf(path, this.options.metrics.on && this.options.metrics.port === null), (record) =>
      this.dispatch(req, res, path, search, record),
    );
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, path: string, search: string, record: RequestRecord): Promise<void> {
    if (!cors(req, res, this.options.corsOrigins)) return;
    if (path === '/health') return send(res, 200, { status: 'ok', version: VERSION });
    if (path === '/ready') return this.ready(res);
    if (record.route === '/metrics') return serveMetrics(req, res, this.options.metrics.token);
    const rest = path.startsWith('/api/');
    if (!rest && path !== '/graphql') return send(res, 404, { error: 'Not found: the GraphQL endpoint is /graphql, the REST API /api/v1' });
    if (!this.options.ready()) {
      const message = 'The service is starting: its database is not ready yet (GET /ready says why)';
      return send(res, 503, refusalBody(rest, message, 'SERVICE_UNAVAILABLE'), { 'retry-after': '1' });
    }
    // The credential is checked before the body is read: what the rate limit charges depends on it.
    const found = this.options.caller(req.headers.authorization);
    const caller = found instanceof Promise ? await found : found;
    if ('credential' in caller) record.environmentId = caller.credential.principal.environmentId;
    const key = this.limiter.enabled ? rateKey(caller, req, this.options.trustProxyHops) : '';
    // Charged before the body is read: a body that never ends still costs its sender.
    if (!this.admit(res, key, 1, rest)) return;
    if (path === '/graphql') return this.graphql({ req, res, caller, record }, key);
    const release = await this.slot(res, caller, 1, rest);
    if (!release) return;
    try {
      await this.options.rest.serve(req, res, path, search, caller, record);
    } finally {
      release();
    }
  }

  /**
   * Room for `weight` operations among those of the caller's environment (none needed without a
   * credential: such a request reads nothing of any environment); undefined when the line is full
   * (answered 429).
   */
  private async slot(res: ServerResponse, caller: Caller, weight: number, rest: boolean): Promise<Release | undefined> {
    if (!('credential' in caller)) return () => {};
    const found = this.slots.acquire(caller.credential.principal.environmentId, weight);
    if (found) return found;
    metrics.refusals.inc({ kind: 'environment' });
    send(res, 429, refusalBody(rest, 'Too many requests of this environment in progress: retry shortly', 'RATE_LIMITED'), {
      'retry-after': '1',
    });
    return undefined;
  }

  private async ready(res: ServerResponse): Promise<void> {
    try {
      if (!this.options.ready()) throw this.options.startupError?.() ?? 'the service is migrating its database';
      await within(this.options.database.ping(), READY_TIMEOUT_MS);
      send(res, 200, { status: 'ready' });
    } catch (error) {
      send(res, 503, unreadyReport(this.options.database.diagnose(error), describeError(error)), { 'retry-after': '1' });
    }
  }

  /**
   * The rate limit of the credential (of the client address without one): `cost` tokens, or a 429.
   * Every answer carries the x-ratelimit-* headers.
   */
  private admit(res: ServerResponse, key: string, cost: number, rest = false): boolean {
    if (!this.limiter.enabled) return true;
    const allowance: Allowance = this.limiter.take(key, cost);
    res.setHeader('x-ratelimit-limit', String(allowance.limit));
    res.setHeader('x-ratelimit-remaining', String(allowance.remaining));
    res.setHeader('x-ratelimit-reset', String(allowance.resetSeconds));
    if (allowance.allowed) return true;
    countRateRefusal(key);
    send(res, 429, refusalBody(rest, this.tooManyRequests(allowance), 'RATE_LIMITED'), {
      'retry-after': String(allowance.retryAfterSeconds),
    });
    return false;
  }

  private tooManyRequests(allowance: Allowance): string {
    return `Too many requests: at most ${this.limiter.limit.perSecond} per second per credential; retry after ${allowance.retryAfterSeconds} s`;
  }

  /**
   * /graphql: one plain JSON operation takes the lean path into yoga's pipeline; everything else
   * (GET, GraphiQL, batches, event streams, other media types) goes through yoga's fetch handler,
   * with the body read here first, as for every request: bounded in bytes whatever its chunking.
   * The environment's room is taken once the body is read, a batch weighing its operations.
   */
  private async graphql(served: Served, key: string): Promise<void> {
    const { req, res, caller } = served;
    if (req.method !== 'POST') return this.viaYoga(served, undefined, await this.slot(res, caller, 1, false));
    const body = await this.body(req, res);
    if (body === undefined) return;
    if (!JSON_BODY.test(req.headers['content-type'] ?? '')) return this.viaYoga(served, body, () => {});
    let params: unknown;
    try {
      params = JSON.parse(body);
    } catch {
      return send(res, 400, graphqlError('Malformed JSON in the request body', 'BAD_REQUEST'));
    }
    if (Array.isArray(params)) {
      // A batch counts as many requests as it holds operations (the first was counted already).
      if (params.length > 1 && params.length <= MAX_BATCH && !this.admit(res, key, params.length - 1)) return;
      if (params.some(selectsSubscription)) {
        return send(res, 400, graphqlError('A batch cannot hold a subscription: send it alone, over SSE or a WebSocket', 'BAD_REQUEST'));
      }
      return this.viaYoga(served, body, await this.slot(res, caller, Math.min(params.length, MAX_BATCH), false));
    }
    const release = await this.slot(res, caller, 1, false);
    if (!release) return;
    const mediaType = resultMediaType(req.headers.accept);
    // Apollo's inline trace (a gateway asking for ftv1) is made on yoga's own path.
    if (mediaType === null || asksForInlineTrace(req)) return this.viaYoga(served, body, release);
    try {
      await answerOperation(this.options.graphql.yoga, params, mediaType, served);
    } finally {
      release();
    }
  }

  /** The body as text, or undefined once the request is answered (too large, not UTF-8, gone). */
  private async body(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
    try {
      return await readBody(req, this.options.maxRequestBytes);
    } catch (error) {
      if (error instanceof BodyAbortedError) return void res.destroy();
      // The rest of a body too large is never read: the connection closes after this answer.
      if (error instanceof BodyTooLargeError) return void send(res, 413, graphqlError(error.message, 'PAYLOAD_TOO_LARGE'));
      if (error instanceof BodyNotUtf8Error || error instanceof BodyTooFragmentedError) {
        return void send(res, 400, graphqlError(error.message, 'BAD_REQUEST'));
      }
      throw error;
    }
  }

  /** Through yoga's fetch handler; an event stream is written as it comes, at the pace the client reads. */
  private async viaYoga(served: Served, body: string | undefined, release: Release | undefined): Promise<void> {
    if (!release) return;
    const { req, res } = served;
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const headers = { ...req.headers } as Record<string, string>;
    delete headers['content-length'];
    delete headers['transfer-encoding'];
    try {
      const { yoga, traced } = this.options.graphql;
      const response = await (asksForInlineTrace(req) ? traced : yoga).fetch(
        `http://localhost${req.url}`,
        { method: req.method, headers, body, signal: gone.signal },
        served,
      );
      // A stream holds the room only until it starts; any other answer until it is written, so
      // the answers an environment has in memory are bounded by its room.
      if (response.headers.get('content-type')?.startsWith('text/event-stream')) release();
      await sendNodeResponse(response, res, req, false);
    } finally {
      release();
    }
  }
}

/** Whether one operation of a batch would run a subscription (unparsable ones are yoga's to refuse). */
function selectsSubscription(params: unknown): boolean {
  const { query, operationName } = (params ?? {}) as { query?: unknown; operationName?: unknown };
  if (typeof query !== 'string') return false;
  try {
    const document = parse(query, { maxTokens: OPERATION_LIMITS.tokens });
    return getOperationAST(document, typeof operationName === 'string' ? operationName : undefined)?.operation === 'subscription';
  } catch {
    return false;
  }
}
