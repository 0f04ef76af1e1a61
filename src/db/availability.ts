import { describeError, log } from '../log.js';

/** A statement that got no answer within its deadline: the database is away (a 503). */
export class DatabaseTimeoutError extends Error {
  readonly code = 'DATABASE_TIMEOUT';
  constructor(ms: number) {
    super(`the database did not answer within ${ms} ms`);
  }
}

/** Whether the database answers, logged once per change rather than once per failed request. */
export class Health {
  private down = false;

  ok(): void {
    if (!this.down) return;
    this.down = false;
    log.info('database reachable again');
  }

  failed(error: unknown): void {
    if (this.down) return;
    this.down = true;
    log.warn(`database unreachable (${describeError(error)}); answering 503 until it is back`);
  }
}

/**
 * Error codes that mean the database is away (refusing, unreachable, restarting, overloaded or
 * not answering in time), not that the statement is wrong: SQLSTATE classes 08 and 57P0x,
 * 53300 (too many connections), 57014 (cancelled: our deadline or statement_timeout), and
 * the socket and postgres.js connection codes.
 */
const UNAVAILABLE =
  /^(08|57P0|53300$|57014$)|^(ECONN|EPIPE$|ETIMEDOUT$|EHOSTUNREACH$|ENETUNREACH$|CONNECT_TIMEOUT$|CONNECTION_|DATABASE_TIMEOUT$)/;

export function isUnavailableCode(code: string | undefined): boolean {
  return code !== undefined && UNAVAILABLE.test(code);
}

export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
