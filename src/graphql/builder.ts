import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import ErrorsPlugin from '@pothos/plugin-errors';
import FederationPlugin from '@pothos/plugin-federation';
import TracingPlugin from '@pothos/plugin-tracing';
import DataLoader from 'dataloader';
import type { Credential } from '../auth/credentials.js';
import type { CredentialRechecks } from '../auth/rechecks.js';
import type { Principal } from '../sessions/principal.js';
import type { SessionsService } from '../sessions/service.js';
import type { Session } from '../sessions/session.js';
import { type FieldOutcomes, observedField, observeRootField } from './outcomes.js';

export interface Context {
  /** The caller's credential, checked once per request (at once when cached); throws UnauthenticatedError. */
  credential(): Credential | Promise<Credential>;
  /** The caller, from its credential. */
  principal(): Principal | Promise<Principal>;
  /** The credential checked afresh (a live subscription asks every second: a rotated key ends it). */
  authenticate(): Credential | Promise<Credential>;
  /** Whether the transport can carry a stream: SSE (Accept: text/event-stream) or a WebSocket. */
  streaming: boolean;
  /** Calls back once the HTTP response is closed (at once if it is); absent over a WebSocket. */
  onClose?: (callback: () => void) => void;
  sessions: SessionsService;
  /** Ends live streams whose credential stops working. */
  rechecks: CredentialRechecks;
  /** The request's root-field outcomes, for its log line (and how an error is named). */
  outcomes?: FieldOutcomes;
  /** A session by id for this request, batched: `_entities` for 100 keys is one query. */
  loadSession(id: string): Promise<Session | null>;
}

/**
 * A request's context. Only own functions: yoga copies the context's own properties into its own
 * (so a getter would run at once), and the loader is made on first use, as most requests never
 * resolve an entity.
 */
export function createContext(
  credential: () => Credential | Promise<Credential>,
  authenticate: () => Credential | Promise<Credential>,
  services: Pick<Context, 'sessions' | 'rechecks'>,
  transport: Pick<Context, 'streaming' | 'onClose' | 'outcomes'> = { streaming: false },
): Context {
  const { sessions } = services;
  let principal: Principal | Promise<Principal> | undefined;
  let loader: DataLoader<string, Session | null> | undefined;
  const context: Context = {
    credential,
    principal: () => {
      if (!principal) {
        const found = credential();
        principal = found instanceof Promise ? found.then((c) => c.principal) : found.principal;
      }
      return principal;
    },
    authenticate,
    ...transport,
    ...services,
    loadSession: (id) => (loader ??= new DataLoader(async (ids) => sessions.getMany(await context.principal(), ids))).load(id),
  };
  return context;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSONObject: { Input: Record<string, unknown>; Output: Record<string, unknown> };
  };
}>({
  plugins: [ErrorsPlugin, DirectivesPlugin, FederationPlugin, TracingPlugin],
  defaultFieldNullability: false,
  tracing: { default: observedField, wrap: (resolver) => observeRootField(resolver) },
  // Only the domain error classes become union members; anything else (credential errors
  // included) stays a top-level error with its own code.
  errors: { defaultTypes: [] },
});
