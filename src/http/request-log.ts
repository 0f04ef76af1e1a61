import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { FieldOutcomes } from '../graphql/outcomes.js';
import { log } from '../log.js';
import { metrics, recording } from '../telemetry/metrics.js';
import { serverSpan } from '../telemetry/tracing.js';
import { maskError } from './errors.js';

/** What one HTTP request leaves behind: its log line, its duration in the histogram, its server span. */
export interface RequestRecord extends FieldOutcomes {
  id: string;
  /** The route template (`/api/v1/sessions/{session}`), never the path as sent. */
  route: string;
  environmentId?: string;
}

/** The route template of a path: never the path as sent (REST's routes name theirs once matched). */
export function routeOf(path: string, metricsHere: boolean): string {
  if (path === '/graphql' || path === '/health' || path === '/ready' || (metricsHere && path === '/metrics')) return path;
  return path.startsWith('/api/') ? '/api/…' : 'unmatched';
}

/** A caller's request id is kept when it is a short printable token; else one is made. */
const REQUEST_ID = /^[\w.:-]{1,64}$/;
/**
 * A request id of this instance's making: a random prefix drawn once, then a counter (16
 * characters). Unique per instance and process, and no draw from the CSPRNG per request.
 */
const ID_PREFIX = randomBytes(6).toString('base64url');
let requests = 0;
const nextRequestId = () => `${ID_PREFIX}${(++requests).toString(36).padStart(8, '0')}`;
/** Routes whose lines are written at debug: probes, not traffic. */
const QUIET = new Set(['/health', '/ready', '/metrics']);

export const codeOf = (error: unknown) =>
  ((maskError(error) as { extensions?: { code?: unknown } }).extensions?.code as string | undefined) ?? 'error';

/**
 * Runs `handle` for a request inside its server span (continuing the caller's `traceparent`), with
 * its request id echoed, and on close writes its log line and observes its duration.
 */
export function observeRequest(
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  handle: (record: RequestRecord) => Promise<void>,
): Promise<void> {
  const started = performance.now();
  const sent = req.headers['x-request-id'];
  const id = typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : nextRequestId();
  res.setHeader('x-request-id', id);
  const record: RequestRecord = { id, route, operations: [], fields: {}, codeOf };
  const method = req.method ?? 'GET';
  return serverSpan(`${method} ${route}`, req.headers, { 'http.request.method': method, 'url.path': route }, (span) => {
    res.once('close', () => finish(record, method, res, started, span));
    return handle(record);
  });
}

function finish(record: RequestRecord, method: string, res: ServerResponse, started: number, span: Span | undefined): void {
  const seconds = (performance.now() - started) / 1000;
  // A response cut off before its head was sent is told as Node would have answered: no status.
  const status = res.headersSent ? res.statusCode : 0;
  if (recording.on)
    metrics.httpDuration.observe({ http_request_method: method, http_route: record.route, http_response_status_code: status }, seconds);
  if (span) {
    span.updateName(`${method} ${record.route}`);
    span.setAttributes({ 'http.route': record.route, 'http.response.status_code': status });
    span.end();
  }
  const level = QUIET.has(record.route) ? 'debug' : 'info';
  if (!log.enabled(level)) return;
  const context = span?.spanContext();
  log.request(level, {
    reqId: record.id,
    method,
    route: record.route,
    status,
    durationMs: Math.round(seconds * 1e5) / 100,
    ...(record.environmentId && { environmentId: record.environmentId }),
    ...(record.operations.length > 0 && { graphql: { operations: record.operations, fields: record.fields } }),
    ...(context && { trace_id: context.traceId, span_id: context.spanId }),
  });
}
