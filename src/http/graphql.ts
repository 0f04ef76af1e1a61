import type { IncomingMessage, ServerResponse } from 'node:http';
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { GraphQLError, ValidationContext } from 'graphql';
import { createYoga, type GraphiQLOptions, isAsyncIterable, type Plugin, processRegularResult } from 'graphql-yoga';
import { type Authenticator, type Caller, credentialOf } from '../auth/credentials.js';
import { CredentialRechecks } from '../auth/rechecks.js';
import { type Context, createContext } from '../graphql/builder.js';
import { useRequestGuard } from '../graphql/guard.js';
import { schema } from '../graphql/schema.js';
import type { SessionsService } from '../sessions/service.js';
import { boundedParserCache } from './document-cache.js';
import { applyContractCodes, isExpectedError, maskError, useContractErrorCodes, useNotAcceptableExplained } from './errors.js';
import { log } from '../log.js';

/**
 * Operation bounds of the contract, measured as graphql-armor measures them. The cost limit fits
 * the heaviest legitimate operation, a full page of 100 sessions with every field (about 12,840).
 */
export const OPERATION_LIMITS = { aliases: 15, depth: 10, tokens: 1000, directives: 50, cost: 15_000 } as const;
/** Operations one batched POST may carry. */
export const MAX_BATCH = 10;

/** GraphiQL opens with the README's first steps, so ▶ succeeds on an empty database. */
export const EXAMPLE_OPERATION = `# Put your secret key in the Headers tab below (npm start printed it on first start):
#   { "Authorization": "Bearer tr_dev_..." }
# Then press ▶: this creates a session (or finds it again) and updates it by its externalId.
mutation FirstSteps($input: CreateSessionInput!, $patch: UpdateSessionInput!) {
  createSession(input: $input) {
    __typename
    ... on CreateSessionSuccess { isCached session { id externalId version } }
    ... on Error { code message }
  }
  updateSession(id: "chat_1234", input: $patch) {
    __typename
    ... on UpdateSessionSuccess { session { id externalId tags metadata version updatedAt } }
    ... on Error { code message }
    ... on InvalidInputError { issues { path message } }
  }
}
`;

export const EXAMPLE_VARIABLES = {
  input: {
    type: 'chat.agent',
    taskIdentifier: 'my-chat',
    externalId: 'chat_1234',
    triggerConfig: { basePayload: { model: 'small' } },
  },
  patch: { tags: ['chat:1234'], metadata: { topic: 'billing' } },
};

// Reported into validation instead of thrown out of it, so the refusal is a 400
// GRAPHQL_VALIDATION_FAILED like any other invalid document.
const asValidationError = {
  propagateOnRejection: false,
  onReject: [(ctx: ValidationContext | null, error: GraphQLError) => ctx?.reportError(error)],
};

// Yoga's GraphiQL takes `headers` and `variables` (untyped) as the first tab's editors.
const GRAPHIQL: GraphiQLOptions & { variables: string } = {
  title: 'sessions-gateway',
  defaultQuery: EXAMPLE_OPERATION,
  variables: JSON.stringify(EXAMPLE_VARIABLES, null, 2),
  headers: JSON.stringify({ Authorization: 'Bearer tr_dev_...' }, null, 2),
  defaultEditorToolsVisibility: 'headers',
};
let graphiqlPage: string | undefined;

export interface GraphQLOptions {
  auth: Authenticator;
  sessions: SessionsService;
  maxRequestBytes: number;
  graphiql: boolean;
  production: boolean;
}

/** What yoga hands the context factory: our server context, and its own request. */
interface ServerContext {
  req?: IncomingMessage;
  res?: ServerResponse;
  /** Set for operations over a WebSocket. */
  websocket?: boolean;
  /** The caller, checked by the HTTP server before the body was read (absent over a WebSocket). */
  caller?: Caller;
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

export function createGraphQLServer(options: GraphQLOptions) {
  const { auth, sessions } = options;
  const rechecks = new CredentialRechecks();
  return createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    maxRequestBodySize: options.maxRequestBytes,
    parserAndValidationCache: boundedParserCache(),
    // Nothing here takes a file: a multipart body is a media type we do not serve.
    multipart: false,
    batching: { limit: MAX_BATCH },
    // CORS is answered by the HTTP server for every route, from CORS_ORIGINS.
    cors: false,
    graphiql: options.graphiql ? GRAPHIQL : false,
    // GraphiQL's whole bundle from npm, inlined into one page rendered once: no CDN, no request
    // leaves the host. Loaded on the first page asked for: the bundle alone holds about 50 MB.
    renderGraphiQL: async (opts) =>
      (graphiqlPage ??= (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(opts)),
    maskedErrors: { maskError },
    logging: {
      debug: () => {},
      info: (...args) => log.info(...args),
      warn: (...args) => log.warn(...args),
      error: (...args) => {
        if (!args.some(isExpectedError)) log.error(...args);
      },
    },
    context: (initial) => {
      const { req, res, caller, request, connectionParams, websocket } = initial as unknown as ServerContext;
      // Over WebSocket, browsers cannot set headers: the credential may come in connection_init.
      const header = connectionAuthorization(connectionParams) ?? (req ? req.headers.authorization : request.headers.get('authorization'));
      const accept = req ? req.headers.accept : request.headers.get('accept');
      const transport = websocket
        ? { streaming: true }
        : {
            streaming: /\btext\/event-stream\b/i.test(accept ?? ''),
            onClose: res && ((callback: () => void) => (res.closed || res.destroyed ? callback() : res.once('close', callback))),
          };
      const authenticate = () => auth.authenticate(header);
      return createContext(caller ? () => credentialOf(caller) : authenticate, authenticate, { sessions, rechecks }, transport);
    },
    plugins: [
      ...armor(options.production),
      useRequestGuard(maskError),
      useContractErrorCodes(),
      useNotAcceptableExplained(options.graphiql),
    ],
  });
}

export type GraphQLServer = ReturnType<typeof createGraphQLServer>;

/**
 * graphql-armor's limits: the token limit while parsing, the others as validation rules, built
 * once and added in one hook (armor's own plugin adds each in a hook of its own, every request).
 */
function armor(production: boolean): Plugin[] {
  const rules = [
    maxAliasesRule({ n: OPERATION_LIMITS.aliases, ...asValidationError }),
    maxDepthRule({ n: OPERATION_LIMITS.depth, ...asValidationError }),
    maxDirectivesRule({ n: OPERATION_LIMITS.directives, ...asValidationError }),
    costLimitRule({ maxCost: OPERATION_LIMITS.cost, ...asValidationError }),
  ];
  return [
    maxTokensPlugin({ n: OPERATION_LIMITS.tokens }) as Plugin,
    {
      onValidate({ addValidationRule }) {
        for (const rule of rules) addValidationRule(rule);
      },
    },
    ...(production ? [blockFieldSuggestionsPlugin() as Plugin] : []),
  ];
}

type MediaType = 'application/json' | 'application/graphql-response+json';
const mediaTypes = new Map<string, MediaType | null>();

/** The response media type yoga would choose for a plain result, or null for a stream or none. */
export function resultMediaType(accept: string | undefined): MediaType | null {
  const key = accept ?? '';
  let chosen = mediaTypes.get(key);
  if (chosen === undefined) {
    chosen = negotiate(accept);
    // Clients send a handful of Accept headers; a client making up new ones gets no cache.
    if (mediaTypes.size < 100) mediaTypes.set(key, chosen);
  }
  return chosen;
}

function negotiate(accept: string | undefined): MediaType | null {
  let chosen: 'application/json' | 'application/graphql-response+json' | null = null;
  // As yoga negotiates: the first listed type that fits wins; utf-8 only.
  const listed = (accept || '*/*').replace(/\s/g, '').toLowerCase().split(',').reverse();
  for (const item of listed) {
    const [type = '', ...params] = item.split(';');
    if (params.some((p) => p.startsWith('charset=') && p !== 'charset=utf-8')) continue;
    if (type === 'text/event-stream' || type === 'multipart/mixed') return null;
    const [pre, suf] = type.split('/');
    const fits = (s: string) => (pre === '*' || pre === 'application') && (suf === '*' || suf === s);
    if (fits('graphql-response+json')) chosen = 'application/graphql-response+json';
    if (fits('json')) chosen = 'application/json';
  }
  return chosen;
}

/** processRegularResult builds a Response; this one only keeps what it was given. */
class CapturedResponse {
  constructor(
    readonly body: string,
    readonly init: { status: number; headers: Record<string, string> },
  ) {}
}
const capture = { Response: CapturedResponse } as unknown as Parameters<typeof processRegularResult>[1];

/** A stand-in for the fetch Request yoga's plugins read: method, url and headers only. */
class LeanRequest {
  readonly headers = this;

  constructor(private readonly req: IncomingMessage) {}

  get method(): string {
    return this.req.method ?? 'POST';
  }

  get url(): string {
    return `http://localhost${this.req.url ?? '/graphql'}`;
  }

  get(name: string): string | null {
    const value = this.req.headers[name.toLowerCase()];
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
  }
}

/**
 * One operation whose JSON body is already read, through yoga's own pipeline (every plugin, the
 * parse and validation cache), without the fetch Request/Response layer. Answers as yoga would.
 */
export async function answerOperation(
  yoga: GraphQLServer,
  params: unknown,
  mediaType: 'application/json' | 'application/graphql-response+json',
  req: IncomingMessage,
  res: ServerResponse,
  caller: Caller,
): Promise<void> {
  let result;
  try {
    result = await yoga.getResultForParams(
      { params: params as never, request: new LeanRequest(req) as unknown as Request },
      { req, res, caller },
    );
  } catch (error) {
    // What yoga's own handler does with a refusal thrown before execution (bad params, say).
    const masked = maskError(error);
    if (masked !== error && !isExpectedError(error)) log.error(error);
    result = { errors: [masked as GraphQLError] };
  }
  if (result === undefined || isAsyncIterable(result)) {
    if (result) await result[Symbol.asyncIterator]().return?.();
    res.writeHead(406, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ errors: [{ message: 'A subscription needs Accept: text/event-stream, or a WebSocket', extensions: { code: 'BAD_REQUEST' } }] }));
    return;
  }
  applyContractCodes(result);
  const { body, init } = processRegularResult(result, capture, mediaType) as unknown as CapturedResponse;
  res.writeHead(init.status, init.headers);
  res.end(body);
}
