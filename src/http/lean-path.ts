import type { IncomingMessage } from 'node:http';
import type { GraphQLError } from 'graphql';
import { isAsyncIterable, processRegularResult } from 'graphql-yoga';
import { log } from '../log.js';
import { isExpectedError, maskError } from './errors.js';
import type { GraphQLServer, Served } from './graphql.js';
import { applyContractCodes } from './plugins/contract-codes.js';
import { answer, send } from './respond.js';

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
  served: Served,
): Promise<void> {
  const { req, res } = served;
  let result: Awaited<ReturnType<GraphQLServer['getResultForParams']>>;
  try {
    result = await yoga.getResultForParams({ params: params as never, request: new LeanRequest(req) as unknown as Request }, served);
  } catch (error) {
    // What yoga's own handler does with a refusal thrown before execution (bad params, say).
    const masked = maskError(error);
    if (masked !== error && !isExpectedError(error)) log.error('GraphQL request failed', error);
    result = { errors: [masked as GraphQLError] };
  }
  if (result === undefined || isAsyncIterable(result)) {
    if (result) await result[Symbol.asyncIterator]().return?.();
    return send(res, 406, {
      errors: [{ message: 'A subscription needs Accept: text/event-stream, or a WebSocket', extensions: { code: 'BAD_REQUEST' } }],
    });
  }
  applyContractCodes(result);
  const { body, init } = processRegularResult(result, capture, mediaType) as unknown as CapturedResponse;
  answer(res, init.status, init.headers, body);
}
