import {
  ExternalIdImmutableError,
  InvalidInputError,
  PayloadTooLargeError,
  SessionClosedError,
  SessionExpiredError,
  SessionNotFoundError,
  VersionConflictError,
} from '../sessions/errors.js';
import type { CreatedSession } from '../sessions/service.js';
import type { Session } from '../sessions/session.js';
import { builder } from './builder.js';
import { SessionRef } from './session.js';

const UpdateSessionInput = builder.inputType('UpdateSessionInput', {
  description: 'Every field is optional; omitted ones are left as they are. At most 32768 bytes as JSON.',
  fields: (t) => ({
    tags: t.stringList({
      description: 'Replaces the tags. At most 10, each at most 128 characters. Omit to keep; null is invalid.',
    }),
    metadata: t.field({ type: 'JSONObject', description: 'Replaces the metadata. null clears it. Omit to keep.' }),
    externalId: t.string({
      description:
        'Read-only after create: the same value is a no-op, any other value (null included, when one is set) is ExternalIdImmutableError.',
    }),
    expectedVersion: t.int({
      description: "Optional precondition: apply only if the row's version is still this one.",
    }),
  }),
});

const SessionTriggerConfigInput = builder.inputType('SessionTriggerConfigInput', {
  description: 'Trigger options for every run of the session.',
  fields: (t) => ({
    basePayload: t.field({ type: 'JSONObject', required: true, description: 'The payload merged into each run.' }),
    machine: t.string({ description: 'micro, small-1x, small-2x, medium-1x, medium-2x, large-1x or large-2x.' }),
    queue: t.string({ description: 'Queue name, at most 128 characters.' }),
    tags: t.stringList({ description: 'Run tags: at most 10, each at most 128 characters.' }),
    maxAttempts: t.int({ description: 'Attempts per run, 1 to 10.' }),
    maxDuration: t.int({ description: 'Longest a run may take, in seconds, at least 1.' }),
    lockToVersion: t.string({ description: 'Task version to lock the runs to.' }),
    region: t.string({ description: 'Region the runs execute in.' }),
    idleTimeoutInSeconds: t.int({ description: 'Seconds a run may wait idle, 1 to 3600.' }),
    ttl: t.string({ description: 'How long a run may wait to start, like "10m".' }),
  }),
});

const CreateSessionInput = builder.inputType('CreateSessionInput', {
  description: 'A new session. At most 32768 bytes as JSON.',
  fields: (t) => ({
    type: t.string({ required: true, description: 'Type discriminator, 1 to 64 characters, like "chat.agent".' }),
    taskIdentifier: t.string({ required: true, description: 'The task runs are triggered against, 1 to 128 characters.' }),
    triggerConfig: t.field({ type: SessionTriggerConfigInput, required: true, description: 'Options for every run.' }),
    externalId: t.string({ description: 'Idempotency key, unique per environment; may not start with session_.' }),
    tags: t.stringList({ description: 'At most 10 tags, each at most 128 characters.' }),
    metadata: t.field({ type: 'JSONObject', description: 'Any JSON object (nested at most 64 levels).' }),
    expiresAt: t.field({ type: 'DateTime', description: 'Retention deadline, in the future.' }),
  }),
});

const UpdateSessionSuccess = builder.objectRef<{ session: Session }>('UpdateSessionSuccess').implement({
  description: 'The update was applied (or was a no-op).',
  fields: (t) => ({ session: t.expose('session', { type: SessionRef, description: 'The session as it is now.' }) }),
});

const CreateSessionSuccess = builder.objectRef<CreatedSession>('CreateSessionSuccess').implement({
  description: 'A new session, or the open one that already had this externalId.',
  fields: (t) => ({
    session: t.expose('session', { type: SessionRef, description: 'The session as it is now.' }),
    isCached: t.exposeBoolean('isCached', {
      description: 'True when an open session with this externalId already existed.',
    }),
    publicAccessToken: t.exposeString('publicAccessToken', {
      description: 'A JWT that may read this session (scopes read:sessions:<key> and write:sessions:<key>).',
    }),
  }),
});

const CloseSessionSuccess = builder.objectRef<{ session: Session }>('CloseSessionSuccess').implement({
  description: 'The session is closed (now, or it already was).',
  fields: (t) => ({ session: t.expose('session', { type: SessionRef, description: 'The closed session.' }) }),
});

builder.mutationType({
  description: 'Writes: secret keys only. Each is one atomic statement.',
  fields: (t) => ({
    closeSession: t.field({
      type: CloseSessionSuccess,
      description:
        'Terminal and idempotent: closing a closed session returns it unchanged. reason: at most 256 characters.',
      args: {
        id: t.arg.id({ required: true, description: 'Friendly ID (session_...) or externalId.' }),
        reason: t.arg.string({ description: 'Why, at most 256 characters; kept from the first close.' }),
        expectedVersion: t.arg.int({ description: "Optional precondition: close only if the session's version is still this one." }),
      },
      errors: {
        directResult: true,
        union: { name: 'CloseSessionResult', description: 'The closed session, or why it could not be closed.' },
        types: [SessionNotFoundError, InvalidInputError, VersionConflictError],
      },
      resolve: async (_, { id, reason, expectedVersion }, ctx) => ({
        session: await ctx.sessions.close(await ctx.principal(), String(id), reason, expectedVersion),
      }),
    }),
    updateSession: t.field({
      type: UpdateSessionSuccess,
      description: 'id: friendly ID (session_...) or externalId, told apart by the session_ prefix.',
      args: {
        id: t.arg.id({ required: true, description: 'Friendly ID (session_...) or externalId, used exactly as given.' }),
        input: t.arg({ type: UpdateSessionInput, required: true, description: 'The changes.' }),
      },
      errors: {
        directResult: true,
        union: { name: 'UpdateSessionResult', description: 'The updated session, or why nothing was written.' },
        types: [
          SessionNotFoundError,
          ExternalIdImmutableError,
          InvalidInputError,
          PayloadTooLargeError,
          VersionConflictError,
        ],
      },
      resolve: async (_, { id, input }, ctx) => ({
        session: await ctx.sessions.update(await ctx.principal(), String(id), input),
      }),
    }),
    createSession: t.field({
      type: CreateSessionSuccess,
      description:
        'Creates a session at version 1. With an externalId it is idempotent: an open session with it comes back with isCached: true.',
      args: { input: t.arg({ type: CreateSessionInput, required: true, description: 'The new session.' }) },
      errors: {
        directResult: true,
        union: { name: 'CreateSessionResult', description: 'The session, or why none was created.' },
        types: [InvalidInputError, PayloadTooLargeError, SessionClosedError, SessionExpiredError],
      },
      resolve: async (_, { input }, ctx) => ctx.sessions.create(await ctx.principal(), input),
    }),
  }),
});
