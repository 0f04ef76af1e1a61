import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from '../zod.js';
import { type Caller, credentialOf } from '../auth/credentials.js';
import { UnauthenticatedError } from '../auth/errors.js';
import type { Principal } from '../sessions/principal.js';
import { log } from '../log.js';
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
  VersionConflictError,
} from '../sessions/errors.js';
import { LATEST_TIME_MS, MAX_CLOSE_REASON_LENGTH, MAX_INPUT_BYTES, PAGE_SIZE } from '../sessions/limits.js';
import { INPUT_SCHEMAS } from '../sessions/rules.js';
import type { PageArgs, SessionsService } from '../sessions/service.js';
import { type Session, type SessionStatus, STATUS_NAMES, sessionStatus } from '../sessions/session.js';
import type { SessionFilter } from '../sessions/store.js';
import { BodyAbortedError, BodyNotUtf8Error, BodyTooFragmentedError, BodyTooLargeError, readBody } from './body.js';
import { send } from './respond.js';
import { isDatabaseUnavailable, isDataException, UNAVAILABLE_RETRY_AFTER_SECONDS } from './errors.js';

/**
 * Trigger.dev's REST routes for sessions, served from the same core as the GraphQL API, so its SDK
 * (`@trigger.dev/sdk`, `sessions.*`) works against this service by `baseURL` alone. Each route is
 * declared as data (method, path, body limit, who may call it, schemas, handler); the handlers
 * only translate between HTTP and the core, whose rules and errors are the GraphQL API's own.
 */

// ---------------------------------------------------------------------------------------------
// The wire shape: Trigger.dev's SessionItem.

const isoDate = z.string().meta({ format: 'date-time' });

const TriggerConfigItem = z
  .object({
    basePayload: z.record(z.string(), z.unknown()),
    machine: z.string().optional(),
    queue: z.string().optional(),
    tags: z.array(z.string()).optional(),
    maxAttempts: z.number().int().optional(),
    maxDuration: z.number().int().optional(),
    lockToVersion: z.string().optional(),
    region: z.string().optional(),
    idleTimeoutInSeconds: z.number().int().optional(),
    ttl: z.string().optional(),
  })
  .meta({ description: 'Trigger options applied to every run the session schedules.' });

export const SessionItem = z
  .object({
    id: z.string().meta({ description: 'Friendly ID, always starting with session_.' }),
    externalId: z.string().nullable().meta({ description: 'Your own stable id for the session.' }),
    type: z.string(),
    taskIdentifier: z.string(),
    triggerConfig: TriggerConfigItem,
    currentRunId: z.string().nullable(),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    closedAt: isoDate.nullable(),
    closedReason: z.string().nullable(),
    expiresAt: isoDate.nullable(),
    createdAt: isoDate,
    updatedAt: isoDate,
    version: z.number().int().meta({ description: 'Starts at 1, grows by 1 with every write; the ETag.' }),
    status: z.enum(STATUS_NAMES),
  })
  .meta({ description: 'A session row.' });

const CreatedSessionItem = SessionItem.extend({
  isCached: z.boolean().meta({ description: 'True when an open session with this externalId already existed.' }),
  publicAccessToken: z.string().meta({ description: 'A JWT that may read this session.' }),
});

const SessionList = z
  .object({
    data: z.array(SessionItem),
    pagination: z.object({
      next: z.string().optional().meta({ description: 'Pass as page[after] for the next (older) page; absent on the last.' }),
      previous: z.string().optional().meta({ description: 'Pass as page[before] for the previous (newer) page.' }),
    }),
  })
  ;

const ErrorBody = z.object({ error: z.string() });

function sessionItem(s: Session) {
  return {
    id: s.id,
    externalId: s.externalId,
    type: s.type,
    taskIdentifier: s.taskIdentifier,
    triggerConfig: s.triggerConfig,
    currentRunId: s.currentRunId,
    tags: s.tags,
    metadata: s.metadata,
    closedAt: s.closedAt?.toISOString() ?? null,
    closedReason: s.closedReason,
    expiresAt: s.expiresAt?.toISOString() ?? null,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    version: s.version,
    status: sessionStatus(s),
  };
}

const etag = (s: Session) => `"${s.version}"`;

/** If-Match as an expectedVersion: `"3"` is version 3, `*` any, anything else matches nothing. */
function expectedVersionOf(req: IncomingMessage): number | null {
  const header = req.headers['if-match']?.trim();
  if (header === undefined || header === '*') return null;
  const match = /^"([1-9]\d{0,8})"$/.exec(header);
  if (!match) throw new PreconditionFailedError('If-Match must be one ETag this service gave out, like "3"');
  return Number(match[1]);
}

class PreconditionFailedError extends Error {}
class NotServedError extends Error {
  constructor(readonly refusal: { status: number; message: string }) {
    super(refusal.message);
  }
}
class BadRequestError extends Error {}

// ---------------------------------------------------------------------------------------------
// The list query: Trigger.dev's page[…] and filter[…] parameters.

const STATUSES = new Set<string>(STATUS_NAMES);
const PERIOD_UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3, w: 604_800e3 };

/**
 * Several values comma-joined in one parameter (as the SDK sends them), or the parameter
 * repeated; an empty parameter is an empty list (it matches nothing, as GraphQL's `[]`). Each
 * value is taken exactly as sent, as GraphQL's filter takes it: spaces and a BOM are part of it
 * (a value holding a comma can only be filtered on through GraphQL).
 */
function many(query: URLSearchParams, name: string): string[] | undefined {
  const given = query.getAll(name);
  return given.length > 0 ? given.flatMap((v) => (v === '' ? [] : v.split(','))) : undefined;
}

function epochMs(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (!/^\d{1,15}$/.test(value) || Number(value) > LATEST_TIME_MS) {
    throw new BadRequestError(`${name} must be a time in milliseconds since 1970, before the year 10000`);
  }
  return Number(value);
}

/** `30m`, `7d`, `1h30m`: now minus that (at the earliest, 1970). */
function periodStart(value: string): number {
  const parts = [...value.matchAll(/(\d{1,12})([smhdw])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
    throw new BadRequestError('filter[createdAt][period] must be like 30m, 12h or 7d');
  }
  return Math.max(0, Date.now() - parts.reduce((ms, [, n, unit]) => ms + Number(n) * PERIOD_UNITS[unit!]!, 0));
}

export function listArgs(query: URLSearchParams): PageArgs {
  const sizeText = query.get('page[size]');
  const size = sizeText === null ? PAGE_SIZE.default : Number(sizeText);
  if (!Number.isInteger(size) || size < PAGE_SIZE.min || size > PAGE_SIZE.max) {
    throw new BadRequestError(`page[size] must be ${PAGE_SIZE.min} to ${PAGE_SIZE.max}`);
  }
  const after = query.get('page[after]') || null;
  const before = query.get('page[before]') || null;
  if (after && before) throw new BadRequestError('Pass page[after] or page[before], not both');
  const status = many(query, 'filter[status]');
  for (const s of status ?? []) {
    if (!STATUSES.has(s)) throw new BadRequestError(`filter[status] must be ${STATUS_NAMES.join(', ')}, not "${s.slice(0, 40)}"`);
  }
  // from and to include their bound; the core's createdAfter and createdBefore exclude theirs.
  const from = epochMs(query, 'filter[createdAt][from]');
  const to = epochMs(query, 'filter[createdAt][to]');
  const period = query.get('filter[createdAt][period]');
  const starts = [from, period ? periodStart(period) : undefined].filter((t): t is number => t !== undefined);
  const filter: SessionFilter = {
    type: many(query, 'filter[type]'),
    tags: many(query, 'filter[tags]'),
    taskIdentifier: many(query, 'filter[taskIdentifier]'),
    externalId: query.get('filter[externalId]') ?? undefined,
    status: status as SessionStatus[] | undefined,
    createdAfter: starts.length ? new Date(Math.max(...starts) - 1) : undefined,
    // Nothing is created after the last representable millisecond: `to` at it bounds nothing.
    createdBefore: to !== undefined && to < LATEST_TIME_MS ? new Date(to + 1) : undefined,
  };
  return before ? { filter, last: size, before } : { filter, first: size, after };
}

// ---------------------------------------------------------------------------------------------
// The routes, as data.

interface Call {
  principal: Principal;
  params: Record<string, string>;
  body: unknown;
  query: URLSearchParams;
  req: IncomingMessage;
}

interface Answer {
  status: number;
  body: unknown;
  etag?: string;
}

interface QueryParameter {
  name: string;
  description: string;
  schema: Record<string, unknown>;
}

export interface Route {
  method: 'GET' | 'POST' | 'PATCH';
  /** With `{name}` for a path parameter. */
  path: string;
  summary: string;
  /** `secret`: a secret key only (public tokens are refused before the body is read); `read`: either. */
  auth: 'secret' | 'read';
  /** Largest body, in bytes; over it: 413 before parsing. */
  bodyLimit: number;
  /** The body's schema: a field it does not name is a 400, except those in `ignored`. */
  body?: z.ZodObject;
  /** Fields Trigger.dev's SDK may send that mean nothing here (no runs): accepted and dropped. */
  ignored?: string[];
  query?: QueryParameter[];
  /** Conditional on If-Match. */
  conditional?: boolean;
  /**
   * Callers that expect what the route does not do, told by a header only they send: answered
   * `status` (declared in `responses`) before the body is read, with `x-should-retry: false`.
   */
  notFor?: { header: string; status: number; message: string };
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handle(call: Call, sessions: SessionsService): Promise<Answer>;
}

const SESSION_PATH = '/api/v1/sessions/{session}';
const sessionParameter = 'The friendly ID (session_…) or your externalId; told apart by the session_ prefix.';
const common = {
  400: { description: 'Invalid body or parameters; the message names the field.', schema: ErrorBody },
  401: { description: 'Missing, unknown, rotated or expired credential.', schema: ErrorBody },
  429: { description: 'Over the rate limit; see Retry-After.', schema: ErrorBody },
  503: { description: 'The database does not answer; see Retry-After.', schema: ErrorBody },
};

/** What a conditional write to one session answers besides its success. */
const writeRefusals = (action: string, bodyLimit: number) => ({
  403: { description: `A public access token: it cannot ${action}.`, schema: ErrorBody },
  404: { description: 'Session not found.', schema: ErrorBody },
  412: { description: 'If-Match names another version than the session has; nothing was written.', schema: ErrorBody },
  413: { description: `Request body too large (over ${bodyLimit} bytes).`, schema: ErrorBody },
});

/** A 256-character reason is 1,554 bytes with every character \u-escaped, as some clients send. */
const CLOSE_BODY_LIMIT = 4096;

const one = (status: number, session: Session): Answer => ({ status, body: sessionItem(session), etag: etag(session) });

const LIST_QUERY: QueryParameter[] = [
  { name: 'page[size]', description: `Page size, ${PAGE_SIZE.min} to ${PAGE_SIZE.max} (default ${PAGE_SIZE.default}).`, schema: { type: 'integer', minimum: 1, maximum: 100 } },
  { name: 'page[after]', description: 'A pagination.next cursor: the page after it (older).', schema: { type: 'string' } },
  { name: 'page[before]', description: 'A pagination.previous cursor: the page before it (newer). Not with page[after].', schema: { type: 'string' } },
  { name: 'filter[type]', description: 'Any of these types, comma-separated or repeated.', schema: { type: 'string' } },
  { name: 'filter[tags]', description: 'Sessions carrying any of these tags, comma-separated or repeated.', schema: { type: 'string' } },
  { name: 'filter[taskIdentifier]', description: 'Any of these tasks, comma-separated or repeated.', schema: { type: 'string' } },
  { name: 'filter[externalId]', description: 'Exactly this externalId.', schema: { type: 'string' } },
  { name: 'filter[status]', description: 'ACTIVE, CLOSED or EXPIRED; several comma-separated.', schema: { type: 'string' } },
  { name: 'filter[createdAt][from]', description: 'Created at or after this time, in ms since 1970.', schema: { type: 'integer' } },
  { name: 'filter[createdAt][to]', description: 'Created at or before this time, in ms since 1970.', schema: { type: 'integer' } },
  { name: 'filter[createdAt][period]', description: 'Created within this period before now: 30m, 12h, 7d, 2w.', schema: { type: 'string' } },
];

export const ROUTES: Route[] = [
  {
    method: 'GET',
    path: SESSION_PATH,
    summary: 'Retrieve a session',
    auth: 'read',
    bodyLimit: 0,
    responses: {
      200: { description: 'The session; ETag is its version.', schema: SessionItem },
      403: { description: 'A public access token whose scopes do not cover this session.', schema: ErrorBody },
      404: { description: 'Session not found (another environment’s sessions do not exist for you).', schema: ErrorBody },
      ...common,
    },
    async handle({ principal, params }, sessions) {
      const session = await sessions.get(principal, params['session']!);
      if (!session) throw new SessionNotFoundError(params['session']!);
      return one(200, session);
    },
  },
  {
    method: 'PATCH',
    path: SESSION_PATH,
    summary: 'Update a session: tags replace, metadata replaces (null clears), externalId is read-only',
    auth: 'secret',
    bodyLimit: MAX_INPUT_BYTES,
    body: INPUT_SCHEMAS.update,
    conditional: true,
    responses: {
      200: { description: 'The updated session; ETag is its new version.', schema: SessionItem },
      ...writeRefusals('update', MAX_INPUT_BYTES),
      422: { description: 'The body names another externalId than the session has; nothing was written.', schema: ErrorBody },
      ...common,
    },
    async handle({ principal, params, body, req }, sessions) {
      const expectedVersion = expectedVersionOf(req);
      const input = expectedVersion === null ? body : { ...(body as object), expectedVersion };
      return one(200, await sessions.update(principal, params['session']!, input));
    },
  },
  {
    method: 'POST',
    path: `${SESSION_PATH}/close`,
    summary: 'Close a session (terminal and idempotent: the first reason is kept)',
    auth: 'secret',
    bodyLimit: CLOSE_BODY_LIMIT,
    body: INPUT_SCHEMAS.close.pick({ reason: true }),
    ignored: ['callingRunId'],
    conditional: true,
    responses: {
      200: { description: 'The closed session.', schema: SessionItem },
      ...writeRefusals('close', CLOSE_BODY_LIMIT),
      ...common,
    },
    async handle({ principal, params, body, req }, sessions) {
      const { reason } = (body ?? {}) as { reason?: unknown };
      return one(200, await sessions.close(principal, params['session']!, reason, expectedVersionOf(req)));
    },
  },
  {
    method: 'GET',
    path: '/api/v1/sessions',
    summary: 'List sessions, newest first',
    auth: 'secret',
    bodyLimit: 0,
    query: LIST_QUERY,
    responses: {
      200: { description: 'One page of sessions.', schema: SessionList },
      403: { description: 'A public access token: it cannot list.', schema: ErrorBody },
      ...common,
    },
    async handle({ principal, query }, sessions) {
      const page = await sessions.list(principal, listArgs(query));
      const { hasNextPage, hasPreviousPage, startCursor, endCursor } = page.pageInfo;
      return {
        status: 200,
        body: {
          data: page.edges.map((e) => sessionItem(e.node)),
          // Absent, not null, when there is none: the SDK's schema takes no null here.
          pagination: { ...(hasNextPage && endCursor && { next: endCursor }), ...(hasPreviousPage && startCursor && { previous: startCursor }) },
        },
      };
    },
  },
  {
    method: 'POST',
    path: '/api/v1/sessions',
    summary: 'Create a session (idempotent by externalId). No run is triggered',
    auth: 'secret',
    bodyLimit: MAX_INPUT_BYTES,
    body: INPUT_SCHEMAS.create,
    responses: {
      200: { description: 'An open session with this externalId already existed (isCached: true).', schema: CreatedSessionItem },
      201: { description: 'A new session.', schema: CreatedSessionItem },
      403: { description: 'A public access token: it cannot create.', schema: ErrorBody },
      409: { description: 'The session with this externalId is closed or has expired.', schema: ErrorBody },
      413: { description: 'Request body too large (over 32768 bytes).', schema: ErrorBody },
      501: {
        description: "Sent by Trigger.dev's SDK (sessions.start, which sends trigger-version): it expects the first run's runId, and this service triggers no runs. Nothing is created.",
        schema: ErrorBody,
      },
      ...common,
    },
    notFor: {
      header: 'trigger-version',
      status: 501,
      message:
        "sessions.start is not served here: it triggers the session's first run and returns its runId, and this service triggers no runs. Create the session with POST /api/v1/sessions from your own HTTP client (not the SDK) or with the GraphQL createSession mutation; sessions.retrieve, update, close and list work as they are.",
    },
    async handle({ principal, body }, sessions) {
      const input = { ...(body as Record<string, unknown>) };
      // JSON has no dates: an ISO string (as JSON.stringify writes a Date) becomes one for the
      // core, whose rules then judge it.
      if (typeof input['expiresAt'] === 'string') {
        const date = new Date(input['expiresAt']);
        if (Number.isNaN(date.getTime())) throw new BadRequestError('Invalid body: expiresAt: must be a date, like 2026-12-31T00:00:00.000Z');
        input['expiresAt'] = date;
      }
      const created = await sessions.create(principal, input);
      return {
        status: created.isCached ? 200 : 201,
        body: { ...sessionItem(created.session), isCached: created.isCached, publicAccessToken: created.publicAccessToken },
        etag: etag(created.session),
      };
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Errors: the core's classes onto statuses, Trigger.dev's messages where it has them.

interface Refusal {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

function refusal(error: unknown): Refusal | null {
  if (error instanceof SessionNotFoundError) return { status: 404, message: 'Session not found' };
  if (error instanceof ExternalIdImmutableError) {
    return { status: 422, message: 'externalId cannot be changed after creation; close this session and create a new one with the desired externalId' };
  }
  if (error instanceof VersionConflictError) {
    return { status: 412, message: `Precondition failed: the session is at version ${error.currentVersion}, not ${error.expectedVersion}` };
  }
  if (error instanceof PreconditionFailedError) return { status: 412, message: error.message };
  if (error instanceof NotServedError) return { ...error.refusal, headers: { 'x-should-retry': 'false' } };
  if (error instanceof InvalidInputError) {
    return { status: 400, message: `Invalid body: ${error.issues.map((i) => `${i.path.filter((p) => p !== 'input').join('.') || 'body'}: ${i.message}`).join('; ')}` };
  }
  if (error instanceof PayloadTooLargeError) return { status: 413, message: 'Request body too large' };
  if (error instanceof SessionClosedError) {
    return { status: 409, message: 'Session is closed; use a different externalId to create a new session', headers: { 'x-should-retry': 'false' } };
  }
  if (error instanceof SessionExpiredError) {
    return { status: 409, message: 'Session is expired; use a different externalId to create a new session', headers: { 'x-should-retry': 'false' } };
  }
  if (error instanceof UnauthenticatedError) return { status: 401, message: error.message };
  if (error instanceof ForbiddenError) return { status: 403, message: error.message };
  if (error instanceof InvalidArgumentsError || error instanceof BadRequestError) return { status: 400, message: error.message };
  if (error instanceof RateLimitedError) return { status: 429, message: error.message, headers: { 'retry-after': String(error.retryAfterSeconds) } };
  if (isDatabaseUnavailable(error)) {
    return { status: 503, message: 'The database is unavailable; try again shortly', headers: { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_SECONDS) } };
  }
  if (isDataException(error)) return { status: 400, message: 'Invalid input: a value cannot be stored' };
  return null;
}

// ---------------------------------------------------------------------------------------------
// Serving them.

interface Matched {
  route: Route;
  params: Record<string, string>;
}

const compiled = ROUTES.map((route) => ({
  route,
  pattern: new RegExp(`^${route.path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
}));

export class RestApi {
  constructor(private readonly sessions: SessionsService) {}

  /** The route for a method and path; the methods the path allows when none; null for no such path. */
  match(method: string, path: string): Matched | { allow: string[] } | null {
    const allow: string[] = [];
    for (const { route, pattern } of compiled) {
      const found = pattern.exec(path);
      if (!found) continue;
      if (route.method === method) {
        const params = Object.fromEntries(Object.entries(found.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]));
        return { route, params };
      }
      allow.push(route.method);
    }
    return allow.length > 0 ? { allow } : null;
  }

  async serve(req: IncomingMessage, res: ServerResponse, path: string, search: string, caller: Caller): Promise<void> {
    if (path === '/api/v1/openapi.json' && req.method === 'GET') return send(res, 200, openApiDocument());
    let matched;
    try {
      matched = this.match(req.method ?? 'GET', path);
    } catch {
      return send(res, 400, { error: 'The path is not well encoded' });
    }
    if (!matched) return send(res, 404, { error: 'Not found' });
    if ('allow' in matched) return send(res, 405, { error: 'Method not allowed' }, { allow: matched.allow.join(', ') });
    const { route, params } = matched;
    try {
      const { principal } = credentialOf(caller);
      if (route.auth === 'secret' && principal.kind !== 'secret') {
        throw new ForbiddenError('A public access token cannot do this: use a secret key');
      }
      if (route.notFor && req.headers[route.notFor.header] !== undefined) throw new NotServedError(route.notFor);
      let body: unknown;
      if (route.body) {
        const text = (await readBody(req, route.bodyLimit)).trim();
        try {
          body = text === '' ? {} : JSON.parse(text);
        } catch {
          throw new BadRequestError('Invalid JSON');
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('The body must be a JSON object');
        const unknown = Object.keys(body).filter((k) => !Object.hasOwn(route.body!.shape, k) && !route.ignored?.includes(k));
        if (unknown.length > 0) {
          throw new BadRequestError(`Invalid body: ${unknown.map((k) => `${k.slice(0, 64)}: not a field of this body`).join('; ')}`);
        }
      }
      const answer = await route.handle({ principal, params, body, query: new URLSearchParams(search), req }, this.sessions);
      send(res, answer.status, answer.body, answer.etag ? { etag: answer.etag } : {});
    } catch (error) {
      if (error instanceof BodyAbortedError) return void res.destroy();
      if (error instanceof BodyTooLargeError) return send(res, 413, { error: 'Request body too large' });
      if (error instanceof BodyNotUtf8Error || error instanceof BodyTooFragmentedError) return send(res, 400, { error: error.message });
      const known = refusal(error);
      if (known) return send(res, known.status, { error: known.message }, known.headers);
      log.error('REST request failed', error);
      send(res, 500, { error: 'Internal Server Error' });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document, generated from the routes.

/** JSON Schema for one of the core's input schemas (zod), with what JSON Schema cannot say spelt out. */
function inputSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = (ctx.zodSchema as { _zod: { def: { type: string } } })._zod.def;
      if (ctx.zodSchema === INPUT_SCHEMAS.jsonObject) Object.assign(ctx.jsonSchema, { type: 'object', description: 'A JSON object, nested at most 64 levels.' });
      else if (def.type === 'date') Object.assign(ctx.jsonSchema, { type: 'string', format: 'date-time' });
    },
  }) as Record<string, unknown>;
}

let document: Record<string, unknown> | undefined;

export function openApiDocument(): Record<string, unknown> {
  if (document) return document;
  const paths: Record<string, Record<string, unknown>> = {};
  const responseSchema = (schema: z.ZodType) => {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output' }) as Record<string, unknown>;
    delete json['$schema'];
    return json;
  };
  for (const route of ROUTES) {
    const pathParameters = [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      description: sessionParameter,
      schema: { type: 'string' },
    }));
    const operation: Record<string, unknown> = {
      summary: route.summary,
      security: [{ bearer: [] }],
      parameters: [
        ...pathParameters,
        ...(route.query ?? []).map((q) => ({ name: q.name, in: 'query', required: false, description: q.description, schema: q.schema })),
        ...(route.conditional
          ? [{ name: 'If-Match', in: 'header', required: false, description: 'Apply only if the session is still at this version (an ETag, like "3").', schema: { type: 'string' } }]
          : []),
      ],
      ...(route.body && {
        requestBody: {
          required: !route.path.endsWith('/close'), // a bare close sends {} or nothing
          content: { 'application/json': { schema: (({ $schema: _drop, ...rest }) => rest)(inputSchema(route.body)) } },
        },
      }),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, r]) => [
          status,
          {
            description: r.description,
            ...(r.schema && { content: { 'application/json': { schema: responseSchema(r.schema) } } }),
          },
        ]),
      ),
      'x-body-limit-bytes': route.bodyLimit,
      'x-auth': route.auth === 'secret' ? 'secret key only' : 'secret key, or a public access token whose scopes cover the session',
    };
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }
  document = {
    openapi: '3.1.0',
    info: {
      title: 'sessions-gateway REST API',
      version: '1',
      description: `Trigger.dev's sessions routes, served from the same core as the GraphQL API. Close reasons are at most ${MAX_CLOSE_REASON_LENGTH} characters.`,
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A secret key (tr_dev_…, tr_prod_…) or a public access token.' },
      },
    },
    paths,
  };
  return document;
}
