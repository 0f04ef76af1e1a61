import {
  ExternalIdImmutableError,
  InvalidInputError,
  PayloadTooLargeError,
  SessionClosedError,
  type SessionError,
  SessionExpiredError,
  SessionNotFoundError,
  VersionConflictError,
} from '../sessions/errors.js';
import { MAX_INPUT_BYTES } from '../sessions/limits.js';
import { builder } from './builder.js';

export const ErrorCode = builder.enumType('ErrorCode', {
  description: 'The code of a domain failure, one per error type.',
  values: {
    SESSION_NOT_FOUND: { description: 'SessionNotFoundError: no such session in your environment.' },
    EXTERNAL_ID_IMMUTABLE: { description: 'ExternalIdImmutableError: externalId cannot change after create.' },
    INVALID_INPUT: { description: 'InvalidInputError: the input breaks a rule; see issues.' },
    PAYLOAD_TOO_LARGE: { description: `PayloadTooLargeError: the input is over ${MAX_INPUT_BYTES} bytes as JSON.` },
    VERSION_CONFLICT: { description: 'VersionConflictError: expectedVersion is not the current version.' },
    SESSION_CLOSED: { description: 'SessionClosedError: the session with that externalId is closed.' },
    SESSION_EXPIRED: { description: 'SessionExpiredError: the session with that externalId has expired.' },
  } as const,
});

export const ErrorInterface = builder.interfaceRef<SessionError>('Error').implement({
  description: 'What every domain failure shares. Switch on __typename (or code) for the details.',
  fields: (t) => ({
    message: t.exposeString('message', { description: 'What went wrong, for people.' }),
    code: t.field({ type: ErrorCode, description: 'What went wrong, for programs.', resolve: (e) => e.code }),
  }),
});

const InputIssue = builder.objectRef<{ path: string[]; message: string }>('InputIssue').implement({
  description: 'One problem with the input.',
  fields: (t) => ({
    path: t.exposeStringList('path', { description: 'Path inside the argument, e.g. ["input", "tags", "3"].' }),
    message: t.exposeString('message', { description: 'The rule broken, with its limit.' }),
  }),
});

/** What every error type shares: the Error interface, and recognising its own class. */
function asError(cls: new (...args: never[]) => SessionError, description: string) {
  return { description, interfaces: [ErrorInterface], isTypeOf: (value: unknown) => value instanceof cls };
}

builder.objectType(SessionNotFoundError, {
  name: 'SessionNotFoundError',
  ...asError(SessionNotFoundError, "No session with that id in your environment (another environment's sessions do not exist for you)."),
  fields: (t) => ({ id: t.exposeID('id', { description: 'The id or externalId that was looked up.' }) }),
});
builder.objectType(ExternalIdImmutableError, {
  name: 'ExternalIdImmutableError',
  ...asError(ExternalIdImmutableError, 'The update named another externalId (or null) than the session has; nothing was written.'),
  fields: (t) => ({
    currentExternalId: t.exposeString('currentExternalId', { nullable: true, description: "The session's externalId." }),
    requestedExternalId: t.exposeString('requestedExternalId', { nullable: true, description: 'The one the update asked for.' }),
  }),
});
builder.objectType(InvalidInputError, {
  name: 'InvalidInputError',
  ...asError(InvalidInputError, 'The input breaks one or more rules; nothing was written.'),
  fields: (t) => ({ issues: t.field({ type: [InputIssue], description: 'Every problem found.', resolve: (e) => e.issues }) }),
});
builder.objectType(PayloadTooLargeError, {
  name: 'PayloadTooLargeError',
  ...asError(PayloadTooLargeError, 'The input, as JSON, is over the size limit; nothing was written.'),
  fields: (t) => ({
    limitBytes: t.exposeInt('limitBytes', { description: `The limit: ${MAX_INPUT_BYTES} bytes.` }),
    actualBytes: t.exposeInt('actualBytes', { description: 'UTF-8 bytes of JSON.stringify(input).' }),
  }),
});
builder.objectType(VersionConflictError, {
  name: 'VersionConflictError',
  ...asError(VersionConflictError, "expectedVersion is not the session's version: someone wrote first; nothing was written."),
  fields: (t) => ({
    expectedVersion: t.exposeInt('expectedVersion', { description: 'The version the update expected.' }),
    currentVersion: t.exposeInt('currentVersion', { description: 'The version the session is at.' }),
  }),
});
builder.objectType(SessionClosedError, {
  name: 'SessionClosedError',
  ...asError(SessionClosedError, 'A session with that externalId exists and is closed; create with another externalId.'),
  fields: (t) => ({ id: t.exposeID('id', { description: 'The externalId the create named.' }) }),
});
builder.objectType(SessionExpiredError, {
  name: 'SessionExpiredError',
  ...asError(SessionExpiredError, 'A session with that externalId exists and has expired; create with another externalId.'),
  fields: (t) => ({ id: t.exposeID('id', { description: 'The externalId the create named.' }) }),
});
