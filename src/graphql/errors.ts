import {
  ExternalIdImmutableError,
  InvalidInputError,
  PayloadTooLargeError,
  SessionClosedError,
  SessionError,
  SessionExpiredError,
  SessionNotFoundError,
  VersionConflictError,
} from '../sessions/errors.js';
import { builder } from './builder.js';

export const ErrorCode = builder.enumType('ErrorCode', {
  values: [
    'SESSION_NOT_FOUND',
    'EXTERNAL_ID_IMMUTABLE',
    'INVALID_INPUT',
    'PAYLOAD_TOO_LARGE',
    'VERSION_CONFLICT',
    'SESSION_CLOSED',
    'SESSION_EXPIRED',
  ] as const,
});

export const ErrorInterface = builder.interfaceRef<SessionError>('Error').implement({
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.field({ type: ErrorCode, resolve: (e) => e.code }),
  }),
});

const InputIssue = builder.objectRef<{ path: string[]; message: string }>('InputIssue').implement({
  fields: (t) => ({
    path: t.exposeStringList('path', { description: 'Path inside the argument, e.g. ["input", "tags", "3"].' }),
    message: t.exposeString('message'),
  }),
});

/** What every error type shares: the Error interface, and recognising its own class. */
function asError(cls: new (...args: never[]) => SessionError) {
  return { interfaces: [ErrorInterface], isTypeOf: (value: unknown) => value instanceof cls };
}

builder.objectType(SessionNotFoundError, {
  name: 'SessionNotFoundError',
  ...asError(SessionNotFoundError),
  fields: (t) => ({ id: t.exposeID('id', { description: 'The id or externalId that was looked up.' }) }),
});
builder.objectType(ExternalIdImmutableError, {
  name: 'ExternalIdImmutableError',
  ...asError(ExternalIdImmutableError),
  fields: (t) => ({
    currentExternalId: t.exposeString('currentExternalId', { nullable: true }),
    requestedExternalId: t.exposeString('requestedExternalId', { nullable: true }),
  }),
});
builder.objectType(InvalidInputError, {
  name: 'InvalidInputError',
  ...asError(InvalidInputError),
  fields: (t) => ({ issues: t.field({ type: [InputIssue], resolve: (e) => e.issues }) }),
});
builder.objectType(PayloadTooLargeError, {
  name: 'PayloadTooLargeError',
  ...asError(PayloadTooLargeError),
  fields: (t) => ({ limitBytes: t.exposeInt('limitBytes'), actualBytes: t.exposeInt('actualBytes') }),
});
builder.objectType(VersionConflictError, {
  name: 'VersionConflictError',
  ...asError(VersionConflictError),
  fields: (t) => ({ expectedVersion: t.exposeInt('expectedVersion'), currentVersion: t.exposeInt('currentVersion') }),
});
builder.objectType(SessionClosedError, {
  name: 'SessionClosedError',
  ...asError(SessionClosedError),
  fields: (t) => ({ id: t.exposeID('id') }),
});
builder.objectType(SessionExpiredError, {
  name: 'SessionExpiredError',
  ...asError(SessionExpiredError),
  fields: (t) => ({ id: t.exposeID('id') }),
});
