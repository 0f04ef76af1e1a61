import { GraphQLError } from 'graphql';
import { builder } from './builder.js';
import { ID_ARGUMENT, SessionRef } from './session.js';

builder.subscriptionField('sessionChanged', (t) =>
  t.field({
    type: SessionRef,
    description:
      'Emits the session after every write to it (update or close), from any instance of the service. id: friendly ID (session_...) or externalId.',
    args: { id: t.arg.id({ required: true, description: ID_ARGUMENT }) },
    subscribe: async (_, { id }, ctx) => {
      if (!ctx.streaming) {
        throw new GraphQLError('A subscription needs Accept: text/event-stream, or a WebSocket (graphql-ws)', {
          extensions: { code: 'BAD_REQUEST' },
        });
      }
      const { principal, id: owner } = await ctx.credential();
      const stream = await ctx.sessions.watch(principal, String(id), owner);
      // Over HTTP the stream lives as long as its response (a client gone while it was being set
      // up included); over a WebSocket, graphql-ws ends it. So does a rotated key, within a second.
      ctx.onClose?.(() => stream.end());
      ctx.rechecks.add(owner, ctx.authenticate, stream);
      return stream;
    },
    resolve: (session) => session,
  }),
);
