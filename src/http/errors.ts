import { GraphQLError } from 'graphql';
import { UnauthenticatedError } from '../auth/errors.js';
import { isUnavailableCode } from '../db/conditions.js';
import {
  ExternalIdImmutableError,
  ForbiddenError,
  InvalidArgumentsError,
  InvalidInputError,
  PayloadTooLargeError,
  RateLimitedError,
  SessionClosedError,
  SessionExpiredError,
  SessionNotFoundError,
  ShuttingDownError,
  VersionConflictError,
} from '../sessions/errors.js';

/**
 * The error catalogue: what every error a request can end in becomes, over GraphQL and over REST.
 * One table, read in order; an error is told by its class (or, from the database, its SQLSTATE),
 * never by its message.
 */

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

/** Seconds a client should wait before retrying while the database is away. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

interface Entry<E = unknown> {
  /** The error of this kind in the chain, if any. */
  find(chain: unknown[]): E | undefined;
  /** Over GraphQL: a top-level code, or a member of the field's result union (never top-level). */
  graphql: string | 'union member';
  /** Over REST: the status. */
  rest: number;
  /** What the answer says, when not the error's own message (masked, or as Trigger.dev words it). */
  message?: (error: E) => string;
  headers?: (error: E) => Record<string, string>;
}

const ofClass = <E>(cls: abstract new (...args: never[]) => E, rest: Omit<Entry<E>, 'find'>): Entry =>
  ({ find: (chain: unknown[]) => chain.find((e) => e instanceof cls), ...rest }) as Entry;
const when = (test: (error: unknown) => boolean, rest: Omit<Entry, 'find'>): Entry => ({ find: (chain) => chain.find(test), ...rest });

const codeOf = (error: unknown) => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};
const retryAfter = (seconds: number) => ({ 'retry-after': String(seconds) });
const databaseAway = {
  message: () => 'The database is unavailable; try again shortly',
  headers: () => retryAfter(UNAVAILABLE_RETRY_AFTER_SECONDS),
};
const noRetry = () => ({ 'x-should-retry': 'false' });

const CATALOGUE: Entry[] = [
  ofClass(UnauthenticatedError, { graphql: 'UNAUTHENTICATED', rest: 401 }),
  ofClass(ForbiddenError, { graphql: 'FORBIDDEN', rest: 403 }),
  ofClass(RateLimitedError, { graphql: 'RATE_LIMITED', rest: 429, headers: (e) => retryAfter(e.retryAfterSeconds) }),
  ofClass(InvalidArgumentsError, { graphql: 'BAD_USER_INPUT', rest: 400 }),
  ofClass(ShuttingDownError, { graphql: 'SERVICE_UNAVAILABLE', rest: 503, headers: () => retryAfter(1) }),
  // The database is down or refusing connections: heals when it returns.
  when((e) => isUnavailableCode(codeOf(e)), { graphql: 'SERVICE_UNAVAILABLE', rest: 503, ...databaseAway }),
  // PostgreSQL's class 22, "data exception": input the database cannot store.
  when((e) => codeOf(e)?.startsWith('22') === true, {
    graphql: 'BAD_USER_INPUT',
    rest: 400,
    message: () => 'Invalid input: a value cannot be stored',
  }),
  ofClass(SessionNotFoundError, { graphql: 'union member', rest: 404, message: () => 'Session not found' }),
  ofClass(ExternalIdImmutableError, {
    graphql: 'union member',
    rest: 422,
    message: () => 'externalId cannot be changed after creation; close this session and create a new one with the desired externalId',
  }),
  ofClass(VersionConflictError, {
    graphql: 'union member',
    rest: 412,
    message: (e) => `Precondition failed: the session is at version ${e.currentVersion}, not ${e.expectedVersion}`,
  }),
  ofClass(InvalidInputError, {
    graphql: 'union member',
    rest: 400,
    message: (e) =>
      `Invalid body: ${e.issues.map((i) => `${i.path.filter((p) => p !== 'input').join('.') || 'body'}: ${i.message}`).join('; ')}`,
  }),
  ofClass(PayloadTooLargeError, { graphql: 'union member', rest: 413, message: () => 'Request body too large' }),
  ofClass(SessionClosedError, {
    graphql: 'union member',
    rest: 409,
    message: () => 'Session is closed; use a different externalId to create a new session',
    headers: noRetry,
  }),
  ofClass(SessionExpiredError, {
    graphql: 'union member',
    rest: 409,
    message: () => 'Session is expired; use a different externalId to create a new session',
    headers: noRetry,
  }),
];

// Duck-typed: graphql's CommonJS and ES builds can both be loaded, and instanceof fails across them.
export function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

/** The error and what it wraps: a GraphQLError's originalError, any error's cause. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < 8; e = isGraphQLError(e) ? e.originalError : (e as { cause?: unknown }).cause) {
    chain.push(e);
  }
  return chain;
}

/** How the catalogue answers an error: its entry's code and status, the message and headers to send. */
interface Answer {
  graphql: string;
  rest: number;
  message: string;
  headers: Record<string, string>;
}

/** The catalogue's answer to an error (the first entry it, or an error it wraps, answers to), or null. */
export function catalogued(error: unknown): Answer | null {
  const chain = causes(error);
  for (const entry of CATALOGUE) {
    const found = entry.find(chain);
    if (found === undefined) continue;
    return {
      graphql: entry.graphql,
      rest: entry.rest,
      message: entry.message?.(found) ?? (found as Error).message,
      headers: entry.headers?.(found) ?? {},
    };
  }
  return null;
}

function topLevel(error: unknown, message: string, code: string, headers?: Record<string, string>): GraphQLError {
  const at = isGraphQLError(error) ? error : undefined;
  const status = CONTRACT_STATUS.get(code)!;
  return new GraphQLError(message, {
    nodes: at?.nodes,
    path: at?.path,
    extensions: { code, http: headers && Object.keys(headers).length > 0 ? { status, headers } : { status } },
  });
}

/**
 * Every GraphQL error leaving the process passes here: what the catalogue knows keeps its code,
 * status and message; the rest is masked (no stack, no SQL, no internal message).
 */
export function maskError(error: unknown): Error {
  const known = catalogued(error);
  if (known && known.graphql !== 'union member') return topLevel(error, known.message, known.graphql, known.headers);
  // JSON.parse of a malformed `variables` or `extensions` query parameter, before any GraphQL.
  if (causes(error).some((e) => e instanceof SyntaxError) && !(isGraphQLError(error) && error.path)) {
    return topLevel(error, 'Malformed JSON in the request', 'BAD_REQUEST');
  }
  // GraphQL's own errors (a variable of the wrong type, say) are meant for the client.
  if (isGraphQLError(error) && (!error.originalError || isGraphQLError(error.originalError))) return error;
  return topLevel(error, 'Unexpected error.', 'INTERNAL_SERVER_ERROR');
}

/**
 * Yoga logs every error it masks; a refusal (4xx) is an answer, not a fault, and an unreachable
 * database is reported once by the readiness watch, not per request.
 */
export function isExpectedError(error: unknown): boolean {
  const http = (maskError(error) as GraphQLError).extensions?.['http'] as { status?: number } | undefined;
  return http?.status !== undefined && (http.status < 500 || http.status === 503);
}
