import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Caller, credentialOf } from '../../auth/credentials.js';
import { log } from '../../log.js';
import { ForbiddenError } from '../../sessions/errors.js';
import type { SessionsService } from '../../sessions/service.js';
import { BodyAbortedError, BodyNotUtf8Error, BodyTooFragmentedError, BodyTooLargeError, readBody } from '../body.js';
import { catalogued } from '../errors.js';
import { send } from '../respond.js';
import { openApiDocument } from './openapi.js';
import { ROUTES, type Route } from './routes.js';
import { Refusal } from './wire.js';

interface Matched {
  route: Route;
  params: Record<string, string>;
}

const compiled = ROUTES.map((route) => ({
  route,
  pattern: new RegExp(`^${route.path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
}));

/** The route for a method and path; the methods the path allows when none; null for no such path. */
function match(method: string, path: string): Matched | { allow: string[] } | null {
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

/** The body of a route that takes one: a JSON object of the fields its schema names. */
async function bodyOf(req: IncomingMessage, route: Route & { body: NonNullable<Route['body']> }): Promise<object> {
  const text = (await readBody(req, route.bodyLimit)).trim();
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new Refusal(400, 'Invalid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Refusal(400, 'The body must be a JSON object');
  const unknown = Object.keys(body).filter((k) => !Object.hasOwn(route.body.shape, k) && !route.ignored?.includes(k));
  if (unknown.length > 0)
    throw new Refusal(400, `Invalid body: ${unknown.map((k) => `${k.slice(0, 64)}: not a field of this body`).join('; ')}`);
  return body;
}

/** How REST answers an error: its own refusals, then the catalogue's (the GraphQL API's own table). */
function refusalOf(error: unknown): Refusal | null {
  if (error instanceof Refusal) return error;
  if (error instanceof BodyTooLargeError) return new Refusal(413, 'Request body too large');
  if (error instanceof BodyNotUtf8Error || error instanceof BodyTooFragmentedError) return new Refusal(400, error.message);
  const known = catalogued(error);
  return known && new Refusal(known.rest, known.message, known.headers);
}

/**
 * Trigger.dev's REST routes for sessions, served from the same core as the GraphQL API, so its SDK
 * (`@trigger.dev/sdk`, `sessions.*`) works against this service by `baseURL` alone.
 */
export class RestApi {
  constructor(private readonly sessions: SessionsService) {}

  async serve(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    search: string,
    caller: Caller,
    record: { route: string },
  ): Promise<void> {
    if (path === '/api/v1/openapi.json' && req.method === 'GET') {
      record.route = path;
      return send(res, 200, openApiDocument());
    }
    let matched: ReturnType<typeof match>;
    try {
      matched = match(req.method ?? 'GET', path);
    } catch {
      return send(res, 400, { error: 'The path is not well encoded' });
    }
    if (!matched) return send(res, 404, { error: 'Not found' });
    if ('allow' in matched) return send(res, 405, { error: 'Method not allowed' }, { allow: matched.allow.join(', ') });
    const { route, params } = matched;
    record.route = route.path;
    try {
      const { principal } = credentialOf(caller);
      if (route.auth === 'secret' && principal.kind !== 'secret') {
        throw new ForbiddenError('A public access token cannot do this: use a secret key');
      }
      const { notFor } = route;
      if (notFor && req.headers[notFor.header] !== undefined)
        throw new Refusal(notFor.status, notFor.message, { 'x-should-retry': 'false' });
      const body = route.body ? await bodyOf(req, route as Route & { body: NonNullable<Route['body']> }) : undefined;
      const answer = await route.handle({ principal, params, body, query: new URLSearchParams(search), req }, this.sessions);
      send(res, answer.status, answer.body, answer.etag ? { etag: answer.etag } : {});
    } catch (error) {
      if (error instanceof BodyAbortedError) return void res.destroy();
      const refusal = refusalOf(error);
      if (refusal) return send(res, refusal.status, { error: refusal.message }, refusal.headers);
      log.error('REST request failed', error);
      send(res, 500, { error: 'Internal Server Error' });
    }
  }
}
