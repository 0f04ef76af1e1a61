import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ForbiddenError, InvalidArgumentsError, UnauthenticatedError } from '../sessions/errors.js';

// Duck-typed: graphql's CommonJS and ES builds can both be loaded, and instanceof fails across them.
function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

function topLevel(error: unknown, message: string, code: string, status: number): GraphQLError {
  const at = isGraphQLError(error) ? error : undefined;
  return new GraphQLError(message, {
    nodes: at?.nodes,
    path: at?.path,
    extensions: { code, http: { status } },
  });
}

/** The error and what it wraps: a GraphQLError's originalError, any error's cause. */
function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < 8; e = isGraphQLError(e) ? e.originalError : (e as { cause?: unknown }).cause) {
    chain.push(e);
  }
  return chain;
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The database is down or refusing connections: a 503 that heals when it returns. */
export function isDatabaseUnavailable(error: unknown): boolean {
  return causes(error).some((e) => {
    const code = codeOf(e);
    return code !== undefined && (UNREACHABLE_CODES.has(code) || code.startsWith('08'));
  });
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
  const badArguments = chain.find((e) => e instanceof InvalidArgumentsError);
  if (badArguments) return topLevel(error, (badArguments as Error).message, 'BAD_USER_INPUT', 400);
  if (isDatabaseUnavailable(error)) {
    return topLevel(error, 'The database is unavailable; try again shortly', 'SERVICE_UNAVAILABLE', 503);
  }
  // PostgreSQL's class 22 is "data exception": input the database cannot store.
  if (chain.some((e) => codeOf(e)?.startsWith('22'))) {
    return topLevel(error, 'Invalid input: a value cannot be stored', 'BAD_USER_INPUT', 400);
  }
  // GraphQL's own errors (a variable of the wrong type, say) are meant for the client.
  if (isGraphQLError(error) && (!error.originalError || isGraphQLError(error.originalError))) return error;
  return topLevel(error, 'Unexpected error.', 'INTERNAL_SERVER_ERROR', 500);
}

/** Yoga logs every error it masks; a refused credential is an answer, not a fault, so it is not logged. */
export function isExpectedError(error: unknown): boolean {
  return causes(error).some(
    (e) => e instanceof UnauthenticatedError || e instanceof ForbiddenError || e instanceof InvalidArgumentsError,
  );
}

/**
 * Yoga's own codes, renamed to the contract's. Of errors still without a code, a 400 is a variable
 * that failed its type (graphql-js does not code those); anything else is internal.
 */
const RENAMED: Record<string, string> = { REQUEST_ENTITY_TOO_LARGE: 'PAYLOAD_TOO_LARGE' };

export function useContractErrorCodes(): Plugin {
  return {
    onResultProcess({ result }) {
      for (const item of Array.isArray(result) ? result : [result]) {
        const errors = (item as { errors?: readonly GraphQLError[] }).errors;
        for (const error of errors ?? []) {
          const extensions = error.extensions as Record<string, unknown>;
          const code = extensions['code'];
          const status = (extensions['http'] as { status?: number } | undefined)?.status;
          if (typeof code !== 'string') extensions['code'] = status === 400 ? 'BAD_USER_INPUT' : 'INTERNAL_SERVER_ERROR';
          else if (RENAMED[code]) extensions['code'] = RENAMED[code];
        }
      }
    },
  };
}
