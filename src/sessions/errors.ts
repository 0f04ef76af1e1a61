import { MAX_INPUT_BYTES } from './limits.js';

/** Codes of the domain failures a client can switch on (the GraphQL `ErrorCode` enum). */
export type ErrorCode =
  | 'SESSION_NOT_FOUND'
  | 'EXTERNAL_ID_IMMUTABLE'
  | 'INVALID_INPUT'
  | 'PAYLOAD_TOO_LARGE'
  | 'VERSION_CONFLICT'
  | 'SESSION_CLOSED'
  | 'SESSION_EXPIRED';

/** A failure the caller caused and can correct; GraphQL answers it as a union member, REST as a 4xx. */
export abstract class SessionError extends Error {
  abstract readonly code: ErrorCode;
}

export class SessionNotFoundError extends SessionError {
  readonly code = 'SESSION_NOT_FOUND';
  constructor(readonly id: string) {
    super(`Session not found: ${id}`);
  }
}

export class ExternalIdImmutableError extends SessionError {
  readonly code = 'EXTERNAL_ID_IMMUTABLE';
  constructor(
    readonly currentExternalId: string | null,
    readonly requestedExternalId: string | null,
  ) {
    super('externalId is read-only after create: it cannot be changed or cleared');
  }
}

export interface InputIssue {
  path: string[];
  message: string;
}

export class InvalidInputError extends SessionError {
  readonly code = 'INVALID_INPUT';
  constructor(readonly issues: InputIssue[]) {
    super(`Invalid input: ${issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
}

export class PayloadTooLargeError extends SessionError {
  readonly code = 'PAYLOAD_TOO_LARGE';
  readonly limitBytes = MAX_INPUT_BYTES;
  constructor(readonly actualBytes: number) {
    super(`Input is ${actualBytes} bytes; the limit is ${MAX_INPUT_BYTES} bytes`);
  }
}

export class VersionConflictError extends SessionError {
  readonly code = 'VERSION_CONFLICT';
  constructor(
    readonly expectedVersion: number,
    readonly currentVersion: number,
  ) {
    super(`Expected version ${expectedVersion} but the session is at version ${currentVersion}`);
  }
}

export class SessionClosedError extends SessionError {
  readonly code = 'SESSION_CLOSED';
  constructor(readonly id: string) {
    super(`Session ${id} is closed`);
  }
}

export class SessionExpiredError extends SessionError {
  readonly code = 'SESSION_EXPIRED';
  constructor(readonly id: string) {
    super(`Session ${id} has expired`);
  }
}

/** Too many requests, or too many streams, from one credential, environment or address (429). */
export class RateLimitedError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** A valid credential used where it may not be (403). */
export class ForbiddenError extends Error {}

/** Arguments no page can be made from (both first and last, a bad cursor…): top-level, 400. */
export class InvalidArgumentsError extends Error {}

/** This instance is shutting down: the request belongs on another (503). */
export class ShuttingDownError extends Error {}
