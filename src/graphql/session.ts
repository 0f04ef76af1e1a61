import type { TriggerConfig } from '../sessions/rules.js';
import type { SessionPage } from '../sessions/service.js';
import { type Session, sessionStatus } from '../sessions/session.js';
import { GraphQLError } from 'graphql';
import { InvalidArgumentsError } from '../sessions/errors.js';
import { isFriendlyId } from '../sessions/ids.js';
import { builder } from './builder.js';

export const SessionStatus = builder.enumType('SessionStatus', {
  description: 'Where a session is in its lifecycle, derived when read from closedAt and expiresAt.',
  values: {
    ACTIVE: { description: 'Open: not closed, and expiresAt (if any) is still ahead.' },
    CLOSED: { description: 'closeSession was called; terminal.' },
    EXPIRED: { description: 'Not closed, but expiresAt has passed.' },
  } as const,
});

const SessionTriggerConfig = builder.objectRef<TriggerConfig>('SessionTriggerConfig').implement({
  description: 'Trigger options applied to every run the session schedules.',
  fields: (t) => ({
    basePayload: t.expose('basePayload', { type: 'JSONObject', description: 'The payload merged into each run.' }),
    machine: t.exposeString('machine', { nullable: true, description: 'Machine preset of the runs (micro, small-1x, …).' }),
    queue: t.exposeString('queue', { nullable: true, description: 'Queue the runs go to.' }),
    tags: t.exposeStringList('tags', { nullable: true, description: 'Tags given to each run (not the session\'s own tags).' }),
    maxAttempts: t.exposeInt('maxAttempts', { nullable: true, description: 'Attempts per run, 1 to 10.' }),
    maxDuration: t.exposeInt('maxDuration', { nullable: true, description: 'Longest a run may take, in seconds.' }),
    lockToVersion: t.exposeString('lockToVersion', { nullable: true, description: 'Task version the runs are locked to.' }),
    region: t.exposeString('region', { nullable: true, description: 'Region the runs execute in.' }),
    idleTimeoutInSeconds: t.exposeInt('idleTimeoutInSeconds', {
      nullable: true,
      description: 'Seconds a run may wait idle for the next message, 1 to 3600.',
    }),
    ttl: t.exposeString('ttl', { nullable: true, description: 'How long a run may wait to start, like "10m".' }),
  }),
});

export const SessionRef = builder.objectRef<Session>('Session').implement({
  description: 'The row behind a chat agent: its type, task, tags, metadata, trigger config and lifecycle.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Friendly ID, always starting with session_.' }),
    type: t.exposeString('type', { description: 'The session type discriminator, like "chat.agent".' }),
    taskIdentifier: t.exposeString('taskIdentifier', { description: 'The task the session triggers runs against.' }),
    tags: t.exposeStringList('tags', { description: 'Tags on the session row (at most 10).' }),
    externalId: t.exposeString('externalId', {
      nullable: true,
      description: 'Your own stable id for the session, unique in its environment; read-only after create.',
    }),
    triggerConfig: t.expose('triggerConfig', { type: SessionTriggerConfig, description: 'Options applied to every run.' }),
    currentRunId: t.exposeString('currentRunId', {
      nullable: true,
      description: 'Friendly ID of the live run (run_...), if any.',
    }),
    metadata: t.expose('metadata', { type: 'JSONObject', nullable: true, description: 'Your JSON object, or null if unset.' }),
    status: t.field({
      type: SessionStatus,
      description: 'ACTIVE, CLOSED when closedAt is set, EXPIRED when expiresAt has passed.',
      resolve: (session) => sessionStatus(session),
    }),
    closedAt: t.expose('closedAt', { type: 'DateTime', nullable: true, description: 'When the session was closed; null while open.' }),
    closedReason: t.exposeString('closedReason', { nullable: true, description: 'The reason given when it was closed.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'Retention deadline; null for none.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the session was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When the row was last written.' }),
    version: t.exposeInt('version', {
      description: 'Starts at 1 and grows by exactly 1 with every write to the row: the value expectedVersion and ETag compare.',
    }),
  }),
});

/**
 * Two keys: `id` names a friendly id, `externalId` the caller's own id; a value of the other kind
 * is no such session. Both kinds in one `_entities` call are one query, through the loader.
 */
builder.asEntity(SessionRef, {
  key: [builder.selection<{ id: string }>('id'), builder.selection<{ externalId: string }>('externalId')],
  resolveReference: (reference, ctx) => {
    if ('id' in reference) {
      if (typeof reference.id !== 'string') throw new InvalidArgumentsError('A Session representation needs a string id');
      return isFriendlyId(reference.id) ? ctx.loadSession(reference.id) : null;
    }
    const { externalId } = reference as { externalId?: unknown };
    if (typeof externalId !== 'string') throw new InvalidArgumentsError('A Session representation needs a string id or externalId');
    return isFriendlyId(externalId) ? null : ctx.loadSession(externalId);
  },
});

const SessionFilter = builder.inputType('SessionFilter', {
  description: 'Filters combine with AND; a list matches any of its values; an empty list matches nothing.',
  fields: (t) => ({
    type: t.stringList({ description: 'Sessions of any of these types.' }),
    tags: t.stringList({ description: 'Matches sessions that carry any of these tags.' }),
    taskIdentifier: t.stringList({ description: 'Sessions of any of these tasks.' }),
    externalId: t.string({ description: 'The session with this externalId (trimmed).' }),
    status: t.field({ type: [SessionStatus], description: 'Sessions in any of these states.' }),
    createdAfter: t.field({ type: 'DateTime', description: 'Created strictly after this time.' }),
    createdBefore: t.field({ type: 'DateTime', description: 'Created strictly before this time.' }),
  }),
});

const PageInfo = builder.objectRef<SessionPage['pageInfo']>('PageInfo').implement({
  description: 'Where a page sits in the whole list (Relay cursor connections).',
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage', { description: 'More (older) sessions follow: pass endCursor as after.' }),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage', {
      description: 'Newer sessions precede this page: pass startCursor as before, with last.',
    }),
    startCursor: t.exposeString('startCursor', { nullable: true, description: 'Cursor of the first edge; null on an empty page.' }),
    endCursor: t.exposeString('endCursor', { nullable: true, description: 'Cursor of the last edge; null on an empty page.' }),
  }),
});

const SessionEdge = builder.objectRef<SessionPage['edges'][number]>('SessionEdge').implement({
  description: 'A session in a page, with its cursor.',
  fields: (t) => ({
    cursor: t.exposeString('cursor', { description: 'Opaque position of this session in the list.' }),
    node: t.expose('node', { type: SessionRef, description: 'The session.' }),
  }),
});

const SessionConnection = builder.objectRef<SessionPage>('SessionConnection').implement({
  description: 'One page of sessions, newest first.',
  fields: (t) => ({
    edges: t.expose('edges', { type: [SessionEdge], description: 'The sessions of this page, in order.' }),
    pageInfo: t.expose('pageInfo', { type: PageInfo, description: 'Whether more pages follow or precede.' }),
  }),
});

builder.queryType({
  description: 'Reads: secret keys read their environment; public tokens only the sessions their scopes name.',
  fields: (t) => ({
    sessions: t.field({
      type: SessionConnection,
      description: 'Newest first (createdAt, then id, descending). first/last: 1 to 100, default 20.',
      args: {
        filter: t.arg({ type: SessionFilter, description: 'Which sessions; all of the environment when omitted.' }),
        first: t.arg.int({ description: 'Page size going forward (older), 1 to 100; default 20.' }),
        after: t.arg.string({ description: 'Cursor to continue after (an endCursor).' }),
        last: t.arg.int({ description: 'Page size going backward (newer), 1 to 100; not with first.' }),
        before: t.arg.string({ description: 'Cursor to page back from (a startCursor); not with after.' }),
      },
      resolve: async (_, args, ctx) => ctx.sessions.list(await ctx.principal(), args),
    }),
    session: t.field({
      type: SessionRef,
      nullable: true,
      description:
        "A session of the caller's environment by friendly ID (session_...) or externalId; null when there is none.",
      args: { id: t.arg.id({ required: true, description: 'Friendly ID (session_...) or externalId, used exactly as given.' }) },
      resolve: async (_, { id }, ctx) => ctx.sessions.get(await ctx.principal(), String(id)),
    }),
  }),
});

builder.subscriptionType({
  description: 'Live updates, over Server-Sent Events (Accept: text/event-stream) or WebSocket (graphql-ws) on /graphql.',
  fields: (t) => ({
    sessionChanged: t.field({
      type: SessionRef,
      description:
        'Emits the session after every write to it (update or close), from any instance of the service. id: friendly ID (session_...) or externalId.',
      args: { id: t.arg.id({ required: true, description: 'Friendly ID (session_...) or externalId, used exactly as given.' }) },
      subscribe: async (_, { id }, ctx) => {
        if (!ctx.streaming) {
          throw new GraphQLError('A subscription needs Accept: text/event-stream, or a WebSocket (graphql-ws)', {
            extensions: { code: 'BAD_REQUEST' },
          });
        }
        const { principal, id: owner } = await ctx.credential();
        const stream = await ctx.sessions.watch(principal, String(id), owner);
        // Over HTTP the stream lives as long as its response (a client gone while it was being
        // set up included); over a WebSocket, graphql-ws ends it. A rotated key or an expired
        // token ends it too, within a second.
        ctx.onClose?.(() => stream.end());
        ctx.rechecks.add(owner, ctx.authenticate, stream);
        return stream;
      },
      resolve: (session) => session,
    }),
  }),
});
