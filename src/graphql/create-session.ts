import { InvalidInputError, PayloadTooLargeError, SessionClosedError, SessionExpiredError } from '../sessions/errors.js';
import {
  MAX_INPUT_BYTES,
  MAX_JSON_DEPTH,
  MAX_TAG_LENGTH,
  MAX_TAGS,
  MAX_TASK_IDENTIFIER_LENGTH,
  MAX_TYPE_LENGTH,
  SESSION_TOKEN_TTL_SECONDS,
} from '../sessions/limits.js';
import type { CreatedSession } from '../sessions/service.js';
import { builder } from './builder.js';
import { SessionRef } from './session.js';
import { SessionTriggerConfigInput } from './trigger-config.js';

const CreateSessionInput = builder.inputType('CreateSessionInput', {
  description: `A new session. At most ${MAX_INPUT_BYTES} bytes as JSON.`,
  fields: (t) => ({
    type: t.string({ required: true, description: `Type discriminator, 1 to ${MAX_TYPE_LENGTH} characters, like "chat.agent".` }),
    taskIdentifier: t.string({
      required: true,
      description: `The task runs are triggered against, 1 to ${MAX_TASK_IDENTIFIER_LENGTH} characters.`,
    }),
    triggerConfig: t.field({ type: SessionTriggerConfigInput, required: true, description: 'Options for every run.' }),
    externalId: t.string({ description: 'Idempotency key, unique per environment; may not start with session_.' }),
    tags: t.stringList({ description: `At most ${MAX_TAGS} tags, each at most ${MAX_TAG_LENGTH} characters.` }),
    metadata: t.field({ type: 'JSONObject', description: `Any JSON object (nested at most ${MAX_JSON_DEPTH} levels).` }),
    expiresAt: t.field({ type: 'DateTime', description: 'Retention deadline, in the future.' }),
  }),
});

const CreateSessionSuccess = builder.objectRef<CreatedSession>('CreateSessionSuccess').implement({
  description: 'A new session, or the open one that already had this externalId.',
  fields: (t) => ({
    session: t.expose('session', { type: SessionRef, description: 'The session as it is now.' }),
    isCached: t.exposeBoolean('isCached', {
      description: 'True when an open session with this externalId already existed.',
    }),
    publicAccessToken: t.exposeString('publicAccessToken', {
      description: `A JWT that may read this session for ${SESSION_TOKEN_TTL_SECONDS / 3600} hour (scopes read:sessions:<key> and write:sessions:<key>).`,
    }),
  }),
});

builder.mutationField('createSession', (t) =>
  t.field({
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
);
