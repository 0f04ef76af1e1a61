import { InvalidArgumentsError } from '../sessions/errors.js';
import { isFriendlyId } from '../sessions/ids.js';
import { MAX_TAGS } from '../sessions/limits.js';
import { SESSION_STATUSES, type Session, sessionStatus } from '../sessions/session.js';
import { builder } from './builder.js';
import { SessionTriggerConfig } from './trigger-config.js';

export const SessionStatus = builder.enumType('SessionStatus', {
  description: 'Where a session is in its lifecycle, derived when read from closedAt and expiresAt.',
  values: Object.fromEntries(Object.entries(SESSION_STATUSES).map(([name, description]) => [name, { description }])) as {
    [K in keyof typeof SESSION_STATUSES]: { description: string };
  },
});

/** How an `id` argument is read, wherever one is taken. */
export const ID_ARGUMENT = 'Friendly ID (session_...) or externalId, used exactly as given.';

export const SessionRef = builder.objectRef<Session>('Session').implement({
  description: 'The row behind a chat agent: its type, task, tags, metadata, trigger config and lifecycle.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Friendly ID, always starting with session_.' }),
    type: t.exposeString('type', { description: 'The session type discriminator, like "chat.agent".' }),
    taskIdentifier: t.exposeString('taskIdentifier', { description: 'The task the session triggers runs against.' }),
    tags: t.exposeStringList('tags', { description: `Tags on the session row (at most ${MAX_TAGS}).` }),
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

builder.queryField('session', (t) =>
  t.field({
    type: SessionRef,
    nullable: true,
    description: "A session of the caller's environment by friendly ID (session_...) or externalId; null when there is none.",
    args: { id: t.arg.id({ required: true, description: ID_ARGUMENT }) },
    resolve: async (_, { id }, ctx) => ctx.sessions.get(await ctx.principal(), String(id)),
  }),
);
