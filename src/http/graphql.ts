import type { IncomingMessage, ServerResponse } from 'node:http';
import { mapSchema } from '@graphql-tools/utils';
import { useApolloInlineTrace } from '@graphql-yoga/plugin-apollo-inline-trace';
import { type GraphQLError, GraphQLSchema } from 'graphql';
import { createYoga, type Plugin } from 'graphql-yoga';
import { type Authenticator, type Caller, credentialOf } from '../auth/credentials.js';
import { CredentialRechecks } from '../auth/rechecks.js';
import { type Context, createContext } from '../graphql/builder.js';
import { useRequestGuard } from '../graphql/guard.js';
import { schema } from '../graphql/schema.js';
import { log } from '../log.js';
import type { SessionsService } from '../sessions/service.js';
import { isExpectedError, maskError } from './errors.js';
import { GRAPHIQL, renderGraphiQL } from './graphiql.js';
import { useContractErrorCodes } from './plugins/contract-codes.js';
import { useNotAcceptableExplained } from './plugins/not-acceptable.js';
import { useObservability } from './plugins/observability.js';
import { useOperationLimits } from './plugins/operation-limits.js';
import { boundedParserCache } from './plugins/parser-cache.js';
import { codeOf, type RequestRecord } from './request-log.js';

/** Operations one batched POST may carry. */
export const MAX_BATCH = 10;

export interface GraphQLOptions {
  auth: Authenticator;
  sessions: SessionsService;
  maxRequestBytes: number;
  graphiql: boolean;
  production: boolean;
}

/** What the HTTP server hands yoga for a request it has read: the request, its answer, its caller, its record. */
export type Served = {
  req: IncomingMessage;
  res: ServerResponse;
  /** The caller, checked before the body was read. */
  caller: Caller;
  record: RequestRecord;
};

/** What yoga hands the context factory: our server context (Served, or a WebSocket's), and its own request. */
interface ServerContext extends Partial<Served> {
  /** Set for operations over a WebSocket. */
  websocket?: boolean;
  request: { headers: { get(name: string): string | null } };
  /** graphql-ws's connection_init payload, for operations over WebSocket. */
  connectionParams?: Record<string, unknown>;
}

/** `{ "Authorization": "Bearer …" }` (any case) in a WebSocket's connection_init payload. */
export function connectionAuthorization(params: Record<string, unknown> | undefined): string | undefined {
  if (!params) return undefined;
  const found = Object.entries(params).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
  return typeof found === 'string' ? found : undefined;
}

function createYogaOver(options: GraphQLOptions, shared: Shared, over: GraphQLSchema, last: Plugin[]) {
  const { auth, sessions } = options;
  const { rechecks, parserAndValidationCache } = shared;
  return createYoga<Record<string, unknown>, Context>({
    schema: over,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    maxRequestBodySize: options.maxRequestBytes,
    parserAndValidationCache,
    // Nothing here takes a file: a multipart body is a media type we do not serve.
    multipart: false,
    batching: { limit: MAX_BATCH },
    // CORS is answered by the HTTP server for every route, from CORS_ORIGINS.
    cors: false,
    graphiql: options.graphiql ? GRAPHIQL : false,
    renderGraphiQL,
    maskedErrors: { maskError },
    // yoga's own lines, as ours: a message and the error or detail it gives; refusals are not faults.
    logging: {
      debug: () => {},
      info: (first, ...rest) => log.info(String(first), rest[0]),
      warn: (first, ...rest) => log.warn(String(first), rest[0]),
      error: (first, ...rest) => {
        if ([first, ...rest].some(isExpectedError)) return;
        if (typeof first === 'string') log.error(first, rest[0]);
        else log.error('GraphQL request failed', first);
      },
    },
    context: (initial) => {
      const { req, res, caller, record, request, connectionParams, websocket } = initial as unknown as ServerContext;
      // Over WebSocket, browsers cannot set headers: the credential may come in connection_init.
      const header = connectionAuthorization(connectionParams) ?? (req ? req.headers.authorization : request.headers.get('authorization'));
      const accept = req ? req.headers.accept : request.headers.get('accept');
      // An operation over a WebSocket has no request record: its outcomes are counted, not logged.
      const outcomes = record ?? { operations: [], fields: {}, codeOf };
      const transport = websocket
        ? { streaming: true, outcomes }
        : {
            streaming: /\btext\/event-stream\b/i.test(accept ?? ''),
            onClose: res && ((callback: () => void) => (res.closed || res.destroyed ? callback() : res.once('close', callback))),
            outcomes,
          };
      const authenticate = () => auth.authenticate(header);
      return createContext(caller ? () => credentialOf(caller) : authenticate, authenticate, { sessions, rechecks }, transport);
    },
    // In order: spans, metrics and the log's record of each operation; the operation bounds
    // (parsing and validation); who may run what; the contract's codes and statuses on every
    // result; a 406 that says why.
    plugins: [
      useObservability(),
      ...useOperationLimits(options.production),
      useRequestGuard(maskError),
      useContractErrorCodes(),
      useNotAcceptableExplained(options.graphiql),
      ...last,
    ],
  });
}

/**
 * A schema whose types and fields are new objects with the same resolvers. mapSchema leaves out
 * the built-in scalars nothing refers to (Float): they are put back, so that both servers answer
 * introspection alike.
 */
function copyOf(original: GraphQLSchema): GraphQLSchema {
  const config = mapSchema(original).toConfig();
  const kept = new Set(config.types.map((type) => type.name));
  const dropped = Object.values(original.getTypeMap()).filter((type) => !kept.has(type.name));
  return new GraphQLSchema({ ...config, types: [...config.types, ...dropped] });
}

/** What the two servers share: one parse cache (its bounds hold for both), one recheck schedule. */
interface Shared {
  rechecks: CredentialRechecks;
  parserAndValidationCache: ReturnType<typeof boundedParserCache>;
}

/**
 * The GraphQL server, and its twin for requests that ask for Apollo's inline trace
 * (`apollo-federation-include-trace`, sent by federation gateways). The trace plugin wraps the
 * resolver of every field it is given: the twin gets a copy of the schema of its own, so that
 * every other request runs the resolvers unwrapped. Both share one parse cache.
 */
export function createGraphQLServer(options: GraphQLOptions): GraphQLServers {
  const shared: Shared = { rechecks: new CredentialRechecks(), parserAndValidationCache: boundedParserCache() };
  const yoga = createYogaOver(options, shared, schema, []);
  // The trace a gateway receives holds errors as the client sees them: masked.
  const inlineTrace = useApolloInlineTrace({ rewriteError: (error) => maskError(error) as GraphQLError });
  const traced = createYogaOver(options, shared, copyOf(schema), [inlineTrace]);
  return { yoga, traced };
}

/** Whether a request asks for Apollo's inline trace: such requests are the twin's. */
export const asksForInlineTrace = (req: IncomingMessage) => req.headers['apollo-federation-include-trace'] !== undefined;

export type GraphQLServer = ReturnType<typeof createYogaOver>;

export interface GraphQLServers {
  yoga: GraphQLServer;
  /** For requests that ask for Apollo's inline trace. */
  traced: GraphQLServer;
}
