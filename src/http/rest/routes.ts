import type { IncomingMessage } from 'node:http';
import { SessionNotFoundError } from '../../sessions/errors.js';
import { MAX_INPUT_BYTES } from '../../sessions/limits.js';
import type { Principal } from '../../sessions/principal.js';
import { INPUT_SCHEMAS } from '../../sessions/rules.js';
import type { SessionsService } from '../../sessions/service.js';
import type { Session } from '../../sessions/session.js';
import type { z } from '../../zod.js';
import { LIST_PARAMETERS, listArgs } from './list-query.js';
import { CreatedSessionItem, ErrorBody, etag, Refusal, SessionItem, SessionList, sessionItem } from './wire.js';

/**
 * Trigger.dev's REST routes for sessions, declared as data: method, path, body limit, who may
 * call, schemas, handler. The handlers only translate between HTTP and the core, whose rules and
 * errors are the GraphQL API's own; `api.ts` serves them, `openapi.ts` describes them.
 */

export interface Call {
  principal: Principal;
  params: Record<string, string>;
  body: unknown;
  query: URLSearchParams;
  req: IncomingMessage;
}

export interface Answer {
  status: number;
  body: unknown;
  etag?: string;
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
  query?: typeof LIST_PARAMETERS;
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

/** If-Match as an expectedVersion: `"3"` is version 3, `*` any, anything else matches nothing. */
function expectedVersionOf(req: IncomingMessage): number | null {
  const header = req.headers['if-match']?.trim();
  if (header === undefined || header === '*') return null;
  const match = /^"([1-9]\d{0,8})"$/.exec(header);
  if (!match) throw new Refusal(412, 'If-Match must be one ETag this service gave out, like "3"');
  return Number(match[1]);
}

export const SESSION_PARAMETER = 'The friendly ID (session_…) or your externalId; told apart by the session_ prefix.';

const SESSION_PATH = '/api/v1/sessions/{session}';
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
    query: LIST_PARAMETERS,
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
          pagination: {
            ...(hasNextPage && endCursor && { next: endCursor }),
            ...(hasPreviousPage && startCursor && { previous: startCursor }),
          },
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
        description:
          "Sent by Trigger.dev's SDK (sessions.start, which sends trigger-version): it expects the first run's runId, and this service triggers no runs. Nothing is created.",
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
        if (Number.isNaN(date.getTime())) throw new Refusal(400, 'Invalid body: expiresAt: must be a date, like 2026-12-31T00:00:00.000Z');
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
