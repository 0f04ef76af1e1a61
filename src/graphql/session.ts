import type { TriggerConfig } from '../db/schema.js';
import { type Session, type SessionPage, sessionStatus } from '../sessions/service.js';
import { InvalidArgumentsError } from '../sessions/errors.js';
import { isFriendlyId } from '../sessions/ids.js';
import { builder } from './builder.js';

export const SessionStatus = builder.enumType('SessionStatus', { values: ['ACTIVE', 'CLOSED', 'EXPIRED'] as const });

const SessionTriggerConfig = builder.objectRef<TriggerConfig>('SessionTriggerConfig').implement({
  fields: (t) => ({
    basePayload: t.expose('basePayload', { type: 'JSONObject' }),
    machine: t.exposeString('machine', { nullable: true }),
    queue: t.exposeString('queue', { nullable: true }),
    tags: t.exposeStringList('tags', { nullable: true }),
    maxAttempts: t.exposeInt('maxAttempts', { nullable: true }),
    maxDuration: t.exposeInt('maxDuration', { nullable: true }),
    lockToVersion: t.exposeString('lockToVersion', { nullable: true }),
    region: t.exposeString('region', { nullable: true }),
    idleTimeoutInSeconds: t.exposeInt('idleTimeoutInSeconds', { nullable: true }),
    ttl: t.exposeString('ttl', { nullable: true }),
  }),
});

export const SessionRef = builder.objectRef<Session>('Session').implement({
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Friendly ID, always starting with session_.' }),
    type: t.exposeString('type'),
    taskIdentifier: t.exposeString('taskIdentifier'),
    tags: t.exposeStringList('tags'),
    externalId: t.exposeString('externalId', { nullable: true }),
    triggerConfig: t.expose('triggerConfig', { type: SessionTriggerConfig }),
    currentRunId: t.exposeString('currentRunId', {
      nullable: true,
      description: 'Friendly ID of the live run (run_...), if any.',
    }),
    metadata: t.expose('metadata', { type: 'JSONObject', nullable: true }),
    status: t.field({
      type: SessionStatus,
      description: 'ACTIVE, CLOSED when closedAt is set, EXPIRED when expiresAt has passed.',
      resolve: (session) => sessionStatus(session),
    }),
    closedAt: t.expose('closedAt', { type: 'DateTime', nullable: true }),
    closedReason: t.exposeString('closedReason', { nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    version: t.exposeInt('version', {
      description: 'Starts at 1 and grows by exactly 1 with every write to the row (see CONTRACT.md).',
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
      return isFriendlyId(reference.id) ? ctx.sessionLoader.load(reference.id) : null;
    }
    const { externalId } = reference as { externalId?: unknown };
    if (typeof externalId !== 'string') throw new InvalidArgumentsError('A Session representation needs a string id or externalId');
    return isFriendlyId(externalId) ? null : ctx.sessionLoader.load(externalId);
  },
});

const SessionFilter = builder.inputType('SessionFilter', {
  fields: (t) => ({
    type: t.stringList(),
    tags: t.stringList({ description: 'Matches sessions that carry any of these tags.' }),
    taskIdentifier: t.stringList(),
    externalId: t.string(),
    status: t.field({ type: [SessionStatus] }),
    createdAfter: t.field({ type: 'DateTime' }),
    createdBefore: t.field({ type: 'DateTime' }),
  }),
});

const PageInfo = builder.objectRef<SessionPage['pageInfo']>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.exposeString('startCursor', { nullable: true }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

const SessionEdge = builder.objectRef<SessionPage['edges'][number]>('SessionEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.expose('node', { type: SessionRef }),
  }),
});

const SessionConnection = builder.objectRef<SessionPage>('SessionConnection').implement({
  fields: (t) => ({
    edges: t.expose('edges', { type: [SessionEdge] }),
    pageInfo: t.expose('pageInfo', { type: PageInfo }),
  }),
});

builder.queryType({
  fields: (t) => ({
    sessions: t.field({
      type: SessionConnection,
      description: 'Newest first (createdAt, then id, descending). first/last: 1 to 100, default 20.',
      args: {
        filter: t.arg({ type: SessionFilter }),
        first: t.arg.int(),
        after: t.arg.string(),
        last: t.arg.int(),
        before: t.arg.string(),
      },
      resolve: async (_, args, ctx) => ctx.sessions.list(await ctx.principal(), args),
    }),
    session: t.field({
      type: SessionRef,
      nullable: true,
      description:
        "A session of the caller's environment by friendly ID (session_...) or externalId; null when there is none.",
      args: { id: t.arg.id({ required: true }) },
      resolve: async (_, { id }, ctx) => ctx.sessions.get(await ctx.principal(), String(id)),
    }),
  }),
});
