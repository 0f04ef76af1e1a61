import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ExecutionArgs, type ExecutionResult, type FormattedExecutionResult, GraphQLError } from 'graphql';
import { CloseCode, handleProtocols, makeServer } from 'graphql-ws';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Credential } from '../auth/credentials.js';
import { describeError, log } from '../log.js';
import { metrics } from '../telemetry/metrics.js';
import type { Release } from './environment-slots.js';
import { connectionAuthorization, type GraphQLServer } from './graphql.js';

export interface WebSocketOptions {
  /** Checks a connection's credential (throws when it is not one). */
  authenticate(authorization: string | undefined): Credential | Promise<Credential>;
  /** Null when the credential may send one more operation now; else why not (rate limit). */
  admit(credential: Credential): string | null;
  /** Room for one operation among its environment's (null when the line is full), as over HTTP. */
  slot(credential: Credential): Release | Promise<Release> | null;
  /** Largest message, as for an HTTP body. */
  maxPayloadBytes: number;
  /** Messages of any type a socket may send per second (twice that at once). */
  messagesPerSecond: number;
  /** Bytes a socket may have waiting to be sent; a peer that lets more pile up is cut off. */
  bufferBytes: number;
  /** Authenticated sockets per environment on this instance. */
  perEnvironment: number;
}

/** How often the server pings an idle WebSocket (graphql-ws's keep-alive); a dead peer is dropped. */
export const WEBSOCKET_KEEPALIVE_MS = 12_000;
/** The close code of a socket over one of its limits (graphql-ws's own "too many" code). */
const TOO_MANY = CloseCode.TooManyInitialisationRequests;

/** What graphql-ws keeps for a socket: its upgrade request, the socket, and the credential it opened with. */
interface Extra {
  request: IncomingMessage;
  socket: WebSocket;
  credential?: Credential;
  /** The environment room each operation holds until its result (a stream: its start) is made. */
  held?: Map<string, Release>;
}

type Enveloped = ReturnType<GraphQLServer['getEnveloped']>;

/**
 * GraphQL over WebSocket (the graphql-ws protocol) on /graphql, through yoga's own envelop: the
 * same parse cache, armor limits, request guard, error masking and contract codes as over HTTP.
 * The credential is the upgrade request's Authorization header, or `Authorization` in the
 * connection_init payload (browsers cannot set headers on a WebSocket).
 *
 * graphql-ws's own `ws` adapter answers every message, ping included, however fast they come and
 * whether or not the peer reads, and logs each failure with its stack; this adapter, on its
 * documented `makeServer`, bounds each socket: a message rate, a send buffer, one log line.
 */
export class GraphQLWebSocket {
  private readonly wss: WebSocketServer;
  private readonly open = new Map<string, number>();
  /** This instance's share of websocket_connections. */
  private readonly openCount = () => {
    let n = 0;
    for (const count of this.open.values()) n += count;
    return n;
  };

  constructor(yoga: GraphQLServer, options: WebSocketOptions) {
    metrics.webSockets.sources.add(this.openCount);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, handleProtocols });
    const server = makeServer<Record<string, unknown> | undefined, Extra>({
      // A socket without a valid credential is closed at once (4403), not kept open for free;
      // one that sends no connection_init is closed after graphql-ws's 3 s.
      onConnect: async (ctx) => {
        try {
          const credential = await options.authenticate(
            connectionAuthorization(ctx.connectionParams) ?? ctx.extra.request.headers.authorization,
          );
          const { environmentId } = credential.principal;
          const open = this.open.get(environmentId) ?? 0;
          if (open >= options.perEnvironment) {
            metrics.refusals.inc({ kind: 'websockets' });
            ctx.extra.socket.close(TOO_MANY, `At most ${options.perEnvironment} WebSockets per environment`);
            return false;
          }
          this.open.set(environmentId, open + 1);
          ctx.extra.credential = credential;
          return true;
        } catch {
          return false;
        }
      },
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      onSubscribe: async (ctx, id, payload) => {
        const { request: req, credential } = ctx.extra;
        const refused = options.admit(credential!);
        if (refused) {
          metrics.refusals.inc({ kind: 'credential' });
          return [new GraphQLError(refused, { extensions: { code: 'RATE_LIMITED' } })];
        }
        const release = await options.slot(credential!);
        if (!release) {
          metrics.refusals.inc({ kind: 'environment' });
          return [
            new GraphQLError('Too many operations of this environment in progress: retry shortly', {
              extensions: { code: 'RATE_LIMITED' },
            }),
          ];
        }
        (ctx.extra.held ??= new Map()).set(id, release);
        const refuse = (errors: readonly GraphQLError[]) => {
          ctx.extra.held?.get(id)?.();
          ctx.extra.held?.delete(id);
          return [...errors];
        };
        const enveloped = yoga.getEnveloped({
          req,
          websocket: true,
          connectionParams: ctx.connectionParams,
          request: { headers: { get: (name: string) => req.headers[name.toLowerCase()] ?? null } },
          params: payload,
        });
        let document: ReturnType<typeof enveloped.parse>;
        try {
          document = enveloped.parse(payload.query);
        } catch (error) {
          return refuse([error as GraphQLError]);
        }
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0) return refuse(errors);
        const args: ExecutionArgs = {
          schema: enveloped.schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await enveloped.contextFactory(),
          rootValue: enveloped,
        };
        return args;
      },
      onOperation: (ctx, id) => {
        ctx.extra.held?.get(id)?.();
        ctx.extra.held?.delete(id);
      },
      // The status an error would have over HTTP means nothing on a socket (yoga drops it too).
      onNext: (_ctx, _id, _payload, _args, result) => withoutHttpExtensions(result),
      onError: (_ctx, _id, _payload, errors) => withoutHttpExtensions({ errors }).errors as GraphQLError[],
    });

    this.wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      const extra: Extra = { request, socket };
      // Expected refusals and network errors are told once per socket, in a line, never a stack.
      let told = false;
      const cut = (why: string, code?: number) => {
        if (!told) log.info(`WebSocket closed: ${why}`);
        told = true;
        if (code === undefined) socket.terminate();
        else socket.close(code, why.slice(0, 120));
      };
      socket.on('error', (error) => cut(describeError(error)));

      const burst = 2 * options.messagesPerSecond;
      let tokens = burst;
      let at = performance.now();
      const admitMessage = () => {
        const now = performance.now();
        tokens = Math.min(burst, tokens + ((now - at) / 1000) * options.messagesPerSecond);
        at = now;
        if (tokens < 1) return false;
        tokens -= 1;
        return true;
      };

      let pongWait: NodeJS.Timeout | undefined;
      const keepAlive = setInterval(() => {
        if (socket.readyState !== socket.OPEN) return;
        pongWait ??= setTimeout(() => cut('no answer to a ping'), WEBSOCKET_KEEPALIVE_MS);
        socket.ping();
      }, WEBSOCKET_KEEPALIVE_MS);
      socket.on('pong', () => {
        clearTimeout(pongWait);
        pongWait = undefined;
      });

      const closed = server.opened(
        {
          protocol: socket.protocol,
          send: (data) => {
            if (socket.readyState !== socket.OPEN) return;
            // A peer that does not read lets answers pile up in this process: it is cut off.
            if (socket.bufferedAmount > options.bufferBytes) return cut(`the peer reads nothing (${socket.bufferedAmount} bytes unsent)`);
            return new Promise<void>((resolve) => socket.send(data, () => resolve()));
          },
          close: (code, reason) => socket.close(code, reason),
          onMessage: (handle) =>
            socket.on('message', (data) => {
              if (!admitMessage()) {
                metrics.refusals.inc({ kind: 'websocket_messages' });
                return cut(`over ${options.messagesPerSecond} messages per second`, TOO_MANY);
              }
              handle(String(data)).catch((error: unknown) => {
                log.error('WebSocket message failed', error);
                socket.close(CloseCode.InternalServerError, 'Internal server error');
              });
            }),
        },
        extra,
      );
      socket.once('close', (code, reason) => {
        for (const release of extra.held?.values() ?? []) release();
        clearInterval(keepAlive);
        clearTimeout(pongWait);
        const environmentId = extra.credential?.principal.environmentId;
        if (environmentId !== undefined) {
          const left = (this.open.get(environmentId) ?? 1) - 1;
          if (left > 0) this.open.set(environmentId, left);
          else this.open.delete(environmentId);
        }
        void closed(code, String(reason));
      });
    });
  }

  /** Takes an upgrade request of /graphql asking for graphql-ws's subprotocol. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  /**
   * Closes every socket (1001, going away): its subscriptions end. A peer that does not answer
   * the close within `graceMs` is cut off.
   */
  close(graceMs: number): Promise<void> {
    metrics.webSockets.sources.delete(this.openCount);
    for (const client of this.wss.clients) client.close(1001, 'The server is shutting down');
    const timer = setTimeout(
      () => {
        for (const client of this.wss.clients) client.terminate();
      },
      Math.min(graceMs, 1000),
    );
    timer.unref();
    return new Promise<void>((resolve) => this.wss.close(() => resolve())).finally(() => clearTimeout(timer));
  }
}

function withoutHttpExtensions(result: FormattedExecutionResult | ExecutionResult): FormattedExecutionResult | ExecutionResult {
  if (!result.errors?.some((e) => e.extensions && 'http' in e.extensions)) return result;
  return {
    ...result,
    errors: result.errors.map((error) => {
      const json = 'toJSON' in error ? (error as GraphQLError).toJSON() : error;
      const { http: _http, ...extensions } = json.extensions ?? {};
      return { ...json, extensions };
    }),
  } as FormattedExecutionResult;
}
