import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import ErrorsPlugin from '@pothos/plugin-errors';
import FederationPlugin from '@pothos/plugin-federation';
import type { Principal } from '../auth/principal.js';
import type { SessionsService } from '../sessions/service.js';

export interface Context {
  /** The caller, authenticated on first use; throws UnauthenticatedError. */
  principal(): Promise<Principal>;
  sessions: SessionsService;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSONObject: { Input: Record<string, unknown>; Output: Record<string, unknown> };
  };
}>({
  plugins: [ErrorsPlugin, DirectivesPlugin, FederationPlugin],
  defaultFieldNullability: false,
  // Only the domain error classes become union members; anything else (credential errors
  // included) stays a top-level error with its own code.
  errors: { defaultTypes: [] },
});
