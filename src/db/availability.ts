import { describeError, log } from '../log.js';
import { metrics } from '../telemetry/metrics.js';
import { describeCondition, diagnose } from './conditions.js';

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

  constructor(private readonly url: string) {
    metrics.databaseReachable.set(1);
  }

  ok(): void {
    if (!this.down) return;
    this.down = false;
    metrics.databaseReachable.set(1);
    log.info('database reachable again');
  }

  failed(error: unknown): void {
    if (this.down) return;
    this.down = true;
    metrics.databaseReachable.set(0);
    const condition = diagnose(error, this.url);
    log.warn(`database unreachable: ${condition ? describeCondition(condition) : describeError(error)}; answering 503 until it is back`);
  }
}

export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
