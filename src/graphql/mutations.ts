import {
  ExternalIdImmutableError,
  InvalidInputError,
  PayloadTooLargeError,
  SessionClosedError,
  SessionExpiredError,
  SessionNotFoundError,
  VersionConflictError,
} from '../sessions/errors.js';
import type { CreatedSession, Session } from '../sessions/service.js';
import { builder } from './builder.js';
import { SessionRef } from './session.js';

const UpdateSessionInput = builder.inputType('UpdateSessionInput', {
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
  fields: (t) => ({
    basePayload: t.field({ type: 'JSONObject', required: true }),
    machine: t.string(),
    queue: t.string(),
    tags: t.stringList(),
    maxAttempts: t.int(),
    maxDuration: t.int(),
    lockToVersion: t.string(),
    region: t.string(),
    idleTimeoutInSeconds: t.int(),
    ttl: t.string(),
  }),
});

const CreateSessionInput = builder.inputType('CreateSessionInput', {
  fields: (t) => ({
    type: t.string({ required: true }),
    taskIdentifier: t.string({ required: true }),
    triggerConfig: t.field({ type: SessionTriggerConfigInput, required: true }),
    externalId: t.string({ description: 'Idempotency key, unique per environment; may not start with session_.' }),
    tags: t.stringList(),
    metadata: t.field({ type: 'JSONObject' }),
    expiresAt: t.field({ type: 'DateTime' }),
  }),
});

const UpdateSessionSuccess = builder.objectRef<{ session: Session }>('UpdateSessionSuccess').implement({
  fields: (t) => ({ session: t.expose('session', { type: SessionRef }) }),
});

const CreateSessionSuccess = builder.objectRef<CreatedSession>('CreateSessionSuccess').implement({
  fields: (t) => ({
    session: t.expose('session', { type: SessionRef }),
    isCached: t.exposeBoolean('isCached', {
      description: 'True when an open session with this externalId already existed.',
    }),
    publicAccessToken: t.exposeString('publicAccessToken', {
      description: 'A JWT that may read this session (scopes read:sessions:<key> and write:sessions:<key>).',
    }),
  }),
});

const CloseSessionSuccess = builder.objectRef<{ session: Session }>('CloseSessionSuccess').implement({
  fields: (t) => ({ session: t.expose('session', { type: SessionRef }) }),
});

builder.mutationType({
  fields: (t) => ({
    closeSession: t.field({
      type: CloseSessionSuccess,
      description:
        'Terminal and idempotent: closing a closed session returns it unchanged. reason: at most 256 characters.',
      args: { id: t.arg.id({ required: true }), reason: t.arg.string() },
      errors: {
        directResult: true,
        union: { name: 'CloseSessionResult' },
        types: [SessionNotFoundError, InvalidInputError],
      },
      resolve: async (_, { id, reason }, ctx) => ({
        session: await ctx.sessions.close(await ctx.principal(), String(id), reason),
      }),
    }),
    updateSession: t.field({
      type: UpdateSessionSuccess,
      description: 'id: friendly ID (session_...) or externalId, told apart by the session_ prefix.',
      args: {
        id: t.arg.id({ required: true }),
        input: t.arg({ type: UpdateSessionInput, required: true }),
      },
      errors: {
        directResult: true,
        union: { name: 'UpdateSessionResult' },
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
      args: { input: t.arg({ type: CreateSessionInput, required: true }) },
      errors: {
        directResult: true,
        union: { name: 'CreateSessionResult' },
        types: [InvalidInputError, PayloadTooLargeError, SessionClosedError, SessionExpiredError],
      },
      resolve: async (_, { input }, ctx) => ctx.sessions.create(await ctx.principal(), input),
    }),
  }),
});
