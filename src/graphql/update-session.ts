import {
  ExternalIdImmutableError,
  InvalidInputError,
  PayloadTooLargeError,
  SessionNotFoundError,
  VersionConflictError,
} from '../sessions/errors.js';
import { MAX_INPUT_BYTES, MAX_TAG_LENGTH, MAX_TAGS } from '../sessions/limits.js';
import type { Session } from '../sessions/session.js';
import { builder } from './builder.js';
import { ID_ARGUMENT, SessionRef } from './session.js';

const UpdateSessionInput = builder.inputType('UpdateSessionInput', {
  description: `Every field is optional; omitted ones are left as they are. At most ${MAX_INPUT_BYTES} bytes as JSON.`,
  fields: (t) => ({
    tags: t.stringList({
      description: `Replaces the tags. At most ${MAX_TAGS}, each at most ${MAX_TAG_LENGTH} characters. Omit to keep; null is invalid.`,
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

const UpdateSessionSuccess = builder.objectRef<{ session: Session }>('UpdateSessionSuccess').implement({
  description: 'The update was applied (or was a no-op).',
  fields: (t) => ({ session: t.expose('session', { type: SessionRef, description: 'The session as it is now.' }) }),
});

builder.mutationField('updateSession', (t) =>
  t.field({
    type: UpdateSessionSuccess,
    description: 'id: friendly ID (session_...) or externalId, told apart by the session_ prefix.',
    args: {
      id: t.arg.id({ required: true, description: ID_ARGUMENT }),
      input: t.arg({ type: UpdateSessionInput, required: true, description: 'The changes.' }),
    },
    errors: {
      directResult: true,
      union: { name: 'UpdateSessionResult', description: 'The updated session, or why nothing was written.' },
      types: [SessionNotFoundError, ExternalIdImmutableError, InvalidInputError, PayloadTooLargeError, VersionConflictError],
    },
    resolve: async (_, { id, input }, ctx) => ({ session: await ctx.sessions.update(await ctx.principal(), String(id), input) }),
  }),
);
