import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ExecutionArgs, type ExecutionResult, type FormattedExecutionResult, GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Credential } from '../auth/credentials.js';
import { connectionAuthorization, type GraphQLServer } from './graphql.js';

export interface WebSocketOptions {
  /** Checks a connection's credential (throws when it is not one). */
  authenticate(authorization: string | undefined): Credential | Promise<Credential>;
  /** Null when the credential may send one more operation now; else why not (rate limit). */
  admit(credential: Credential): string | null;
}

/** What graphql-ws keeps for a socket: its upgrade request, and the credential it opened with. */
interface Extra {
  request: IncomingMessage;
  credential?: Credential;
}

/** How often the server pings an idle WebSocket (graphql-ws's keep-alive); a dead peer is dropped. */
export const WEBSOCKET_KEEPALIVE_MS = 12_000;
/** Largest message a client may send over the socket, as for an HTTP body. */
const MAX_PAYLOAD_BYTES = 65_536;

type Enveloped = ReturnType<GraphQLServer['getEnveloped']>;

/**
 * GraphQL over WebSocket (the graphql-ws protocol) on /graphql, through yoga's own envelop: the
 * same parse cache, armor limits, request guard, error masking and contract codes as over HTTP.
 * The credential is the upgrade request's Authorization header, or `Authorization` in the
 * connection_init payload (browsers cannot set headers on a WebSocket).
 */
export class GraphQLWebSocket {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES });

  constructor(yoga: GraphQLServer, options: WebSocketOptions) {
    useServer(
      {
        // A socket without a valid credential is closed at once (4403), not kept open for free;
        // one that sends no connection_init is closed after graphql-ws's 3 s.
        onConnect: async (ctx) => {
          const extra = ctx.extra as Extra;
          try {
            extra.credential = await options.authenticate(connectionAuthorization(ctx.connectionParams) ?? extra.request.headers.authorization);
            return true;
          } catch {
            return false;
          }
        },
        execute: (args) => (args.rootValue as Enveloped).execute(args),
        subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
        onSubscribe: async (ctx, _id, payload) => {
          const { request: req, credential } = ctx.extra as Extra;
          const refused = options.admit(credential!);
          if (refused) return [new GraphQLError(refused, { extensions: { code: 'RATE_LIMITED' } })];
          const enveloped = yoga.getEnveloped({
            req,
            websocket: true,
            connectionParams: ctx.connectionParams,
            request: { headers: { get: (name: string) => req.headers[name.toLowerCase()] ?? null } },
            params: payload,
          });
          let document;
          try {
            document = enveloped.parse(payload.query);
          } catch (error) {
            return [error as never];
          }
          const errors = enveloped.validate(enveloped.schema, document);
          if (errors.length > 0) return errors;
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
        // The status an error would have over HTTP means nothing on a socket (yoga drops it too).
        onNext: (_ctx, _id, _payload, _args, result) => withoutHttpExtensions(result),
        onError: (_ctx, _id, _payload, errors) => withoutHttpExtensions({ errors }).errors as GraphQLError[],
      },
      this.wss,
      WEBSOCKET_KEEPALIVE_MS,
    );
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
    for (const client of this.wss.clients) client.close(1001, 'The server is shutting down');
    const timer = setTimeout(() => {
      for (const client of this.wss.clients) client.terminate();
    }, Math.min(graceMs, 1000));
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
