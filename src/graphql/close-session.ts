import { InvalidInputError, SessionNotFoundError, VersionConflictError } from '../sessions/errors.js';
import { MAX_CLOSE_REASON_LENGTH } from '../sessions/limits.js';
import type { Session } from '../sessions/session.js';
import { builder } from './builder.js';
import { SessionRef } from './session.js';

const CloseSessionSuccess = builder.objectRef<{ session: Session }>('CloseSessionSuccess').implement({
  description: 'The session is closed (now, or it already was).',
  fields: (t) => ({ session: t.expose('session', { type: SessionRef, description: 'The closed session.' }) }),
});

builder.mutationField('closeSession', (t) =>
  t.field({
    type: CloseSessionSuccess,
    description: `Terminal and idempotent: closing a closed session returns it unchanged. reason: at most ${MAX_CLOSE_REASON_LENGTH} characters.`,
    args: {
      id: t.arg.id({ required: true, description: 'Friendly ID (session_...) or externalId.' }),
      reason: t.arg.string({ description: `Why, at most ${MAX_CLOSE_REASON_LENGTH} characters; kept from the first close.` }),
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
);
