import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isUnavailableCode } from '../db/conditions.js';
import { UnauthenticatedError } from '../auth/errors.js';
import { ForbiddenError, InvalidArgumentsError, RateLimitedError } from '../sessions/errors.js';

// Duck-typed: graphql's CommonJS and ES builds can both be loaded, and instanceof fails across them.
function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

function topLevel(
  error: unknown,
  message: string,
  code: string,
  status: number,
  headers?: Record<string, string>,
): GraphQLError {
  const at = isGraphQLError(error) ? error : undefined;
  return new GraphQLError(message, {
    nodes: at?.nodes,
    path: at?.path,
    extensions: { code, http: headers ? { status, headers } : { status } },
  });
}

/** Seconds a client should wait before retrying while the database is away. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/** The error and what it wraps: a GraphQLError's originalError, any error's cause. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < 8; e = isGraphQLError(e) ? e.originalError : (e as { cause?: unknown }).cause) {
    chain.push(e);
  }
  return chain;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** PostgreSQL's class 22, "data exception": input the database cannot store (a 400). */
export function isDataException(error: unknown): boolean {
  return causes(error).some((e) => codeOf(e)?.startsWith('22'));
}

/** The database is down or refusing connections: a 503 that heals when it returns. */
export function isDatabaseUnavailable(error: unknown): boolean {
  return causes(error).some((e) => isUnavailableCode(codeOf(e)));
}

/**
 * Every error leaving the process passes here: credential errors keep their message with their
 * code and status, the rest are masked (no stack, no SQL, no internal message).
 */
export function maskError(error: unknown): Error {
  const chain = causes(error);
  const unauthenticated = chain.find((e) => e instanceof UnauthenticatedError);
  if (unauthenticated) return topLevel(error, (unauthenticated as Error).message, 'UNAUTHENTICATED', 401);
  const forbidden = chain.find((e) => e instanceof ForbiddenError);
  if (forbidden) return topLevel(error, (forbidden as Error).message, 'FORBIDDEN', 403);
  const limited = chain.find((e): e is RateLimitedError => e instanceof RateLimitedError);
  if (limited) {
    return topLevel(error, limited.message, 'RATE_LIMITED', 429, { 'Retry-After': String(limited.retryAfterSeconds) });
  }
  const badArguments = chain.find((e) => e instanceof InvalidArgumentsError);
  if (badArguments) return topLevel(error, (badArguments as Error).message, 'BAD_USER_INPUT', 400);
  if (isDatabaseUnavailable(error)) {
    return topLevel(error, 'The database is unavailable; try again shortly', 'SERVICE_UNAVAILABLE', 503, {
      'Retry-After': String(UNAVAILABLE_RETRY_AFTER_SECONDS),
    });
  }
  // JSON.parse of a malformed `variables` or `extensions` query parameter, before any GraphQL.
  if (chain.some((e) => e instanceof SyntaxError) && !(isGraphQLError(error) && error.path)) {
    return topLevel(error, 'Malformed JSON in the request', 'BAD_REQUEST', 400);
  }
  if (isDataException(error)) {
    return topLevel(error, 'Invalid input: a value cannot be stored', 'BAD_USER_INPUT', 400);
  }
  // GraphQL's own errors (a variable of the wrong type, say) are meant for the client.
  if (isGraphQLError(error) && (!error.originalError || isGraphQLError(error.originalError))) return error;
  return topLevel(error, 'Unexpected error.', 'INTERNAL_SERVER_ERROR', 500);
}

/**
 * Yoga logs every error it masks; a refusal (4xx) is an answer, not a fault, and an unreachable
 * database is reported once by the readiness watch, not per request.
 */
export function isExpectedError(error: unknown): boolean {
  const http = (maskError(error) as GraphQLError).extensions?.['http'] as { status?: number } | undefined;
  return http?.status !== undefined && (http.status < 500 || http.status === 503);
}

/** The complete list of top-level codes in the contract, each with its HTTP status. */
export const CONTRACT_STATUS = new Map<string, number>([
  ['BAD_REQUEST', 400],
  ['GRAPHQL_PARSE_FAILED', 400],
  ['GRAPHQL_VALIDATION_FAILED', 400],
  ['BAD_USER_INPUT', 400],
  ['UNAUTHENTICATED', 401],
  ['FORBIDDEN', 403],
  ['PAYLOAD_TOO_LARGE', 413],
  ['RATE_LIMITED', 429],
  ['SERVICE_UNAVAILABLE', 503],
  ['INTERNAL_SERVER_ERROR', 500],
]);
const RENAMED = new Map([['REQUEST_ENTITY_TOO_LARGE', 'PAYLOAD_TOO_LARGE']]);

/** The contract's code for an error as yoga or graphql-js left it. */
function contractCode(code: unknown, status: number | undefined): string {
  if (typeof code === 'string' && CONTRACT_STATUS.has(code)) return code;
  const renamed = typeof code === 'string' ? RENAMED.get(code) : undefined;
  if (renamed) return renamed;
  // graphql-js does not code a variable that fails its type; yoga's other 400s (operation
  // resolution, say) are requests that cannot run.
  if (code === undefined && status === 400) return 'BAD_USER_INPUT';
  return status !== undefined && status < 500 ? 'BAD_REQUEST' : 'INTERNAL_SERVER_ERROR';
}

const unsupportedMediaType = () =>
  new GraphQLError('Send the operation as JSON (POST, content-type: application/json) or in the query string (GET)', {
    extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
  });

type HttpExtension = { status?: number; spec?: boolean; headers?: Record<string, string> };

/**
 * Every top-level error leaves with a contract code and its status from the table (a mutation
 * over GET is a 400, not yoga's 405; too many batched operations a 400, not its 413), and the
 * parser's own message (`originalError`) is dropped. A result with `data` is 200 whatever its
 * errors (GraphQL over HTTP requires 2xx there), so its errors lose their statuses.
 */
export function applyContractCodes(result: unknown): void {
  for (const item of Array.isArray(result) ? result : [result]) {
    const answer = item as { data?: unknown; errors?: readonly GraphQLError[] };
    // Half an answer while the database is away helps nobody: the whole operation is a 503 with
    // Retry-After, as if refused, so clients retry it.
    const unavailable = answer.errors?.find((e) => e.extensions?.['code'] === 'SERVICE_UNAVAILABLE');
    if (unavailable && answer.data !== undefined) {
      delete answer.data;
      answer.errors = [new GraphQLError(unavailable.message, { extensions: unavailable.extensions })];
    }
    const { data, errors } = answer;
    for (const error of errors ?? []) {
      const extensions = error.extensions as Record<string, unknown>;
      const http = extensions['http'] as HttpExtension | undefined;
      // graphql-js codes no variable that fails its type: the engine's own request error, which
      // stays 200 for application/json clients like a parse or validation error.
      if (extensions['code'] === undefined && http?.status === 400) http.spec = true;
      const code = contractCode(extensions['code'], http?.status);
      extensions['code'] = code;
      delete extensions['originalError'];
      if (data != null) delete extensions['http'];
      else if (http) {
        http.status = CONTRACT_STATUS.get(code);
        // Not a GraphQL request at all: 400 for application/json clients too (yoga's `spec`
        // flag would answer them 200), as GraphQL over HTTP recommends.
        if (code === 'BAD_REQUEST') http.spec = false;
      }
    }
  }
}

/** The contract's codes and statuses on yoga's own path; a POST body must be JSON. */
export function useContractErrorCodes(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      const json = /^application\/(graphql\+)?json\b/i.test(request.headers.get('content-type') ?? '');
      if (!requestParser || (request.method === 'POST' && !json)) {
        setRequestParser(() => {
          throw unsupportedMediaType();
        });
      }
    },
    onResultProcess({ result }) {
      applyContractCodes(result);
    },
  };
}

/** The one line a 406 carries: yoga's own has no body. */
export const NOT_ACCEPTABLE = {
  graphiqlOff:
    'GraphiQL is off here: NODE_ENV=production turns it off, GRAPHIQL=1 serves it anyway. The API itself answers POST with application/json, or GET with ?query=…',
  nothingFits:
    'Nothing in Accept fits: /graphql answers application/json or application/graphql-response+json, and text/event-stream for a subscription',
};

/** A 406 says why in one line: GraphiQL asked for while it is off, or an Accept that allows nothing served. */
export function useNotAcceptableExplained(graphiql: boolean): Plugin {
  const explain = (fetchAPI: { Response: typeof Response }, line: string, headers: Record<string, string> = {}) =>
    new fetchAPI.Response(`${line}\n`, { status: 406, headers: { ...headers, 'content-type': 'text/plain; charset=utf-8' } });
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      // A browser opening /graphql asks for the page (text/html), not for an operation.
      const page = request.method === 'GET' && !url.searchParams.has('query') && /\btext\/html\b/i.test(request.headers.get('accept') ?? '');
      if (page && !graphiql) endResponse(explain(fetchAPI, NOT_ACCEPTABLE.graphiqlOff));
    },
    onResponse({ response, setResponse, fetchAPI }) {
      if (response.status === 406 && !response.headers.get('content-type')) {
        setResponse(explain(fetchAPI, NOT_ACCEPTABLE.nothingFits, { accept: response.headers.get('accept') ?? '' }));
      }
    },
  };
}
