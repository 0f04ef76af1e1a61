import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { CONTRACT_STATUS } from '../errors.js';

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
