import postgres from 'postgres';
import { metrics } from '../telemetry/metrics.js';
import { Health } from './availability.js';
import { bounded, Deadlines } from './deadlines.js';
import { ConnectionGuard } from './socket-guard.js';

/** How long the service waits on a real PostgreSQL server; see README, "Security and limits". */
export interface DatabaseTimeouts {
  /** Longest wait for one statement, from asking for it (a pool connection included) to its rows. */
  statementMs: number;
  /** Longest wait for a new connection, startup included. */
  connectMs: number;
  /** Idle pool connections close after this many seconds. */
  idleSeconds: number;
}

export const DEFAULT_TIMEOUTS: DatabaseTimeouts = { statementMs: 1000, connectMs: 1000, idleSeconds: 30 };

/**
 * A postgres.js pool whose every wait is bounded: connecting and startup, each statement
 * (server-side too, with statement_timeout), an unanswered connection, and reconnecting after an
 * outage (at most 1 s between attempts). The socket guard needs a plain connection: with TLS
 * (sslmode in DATABASE_URL) statements keep their deadlines, but a partition is only noticed
 * when TCP gives up; terminate TLS in a local proxy (pgbouncer) to have both.
 */
export function boundedPostgres(url: string, poolSize: number, timeouts: DatabaseTimeouts): { sql: postgres.Sql; stop(): void } {
  const health = new Health(url);
  const tls = /[?&](ssl|sslmode)=(?!disable)/.test(url);
  // Above statement_timeout, so a statement the server still works on is never cut.
  const guard = tls ? null : new ConnectionGuard(timeouts.statementMs + 500);
  const sql = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    // The schema needs no custom type; fetching types on each new connection is work whose
    // failure during an outage postgres.js leaves unhandled.
    fetch_types: false,
    idle_timeout: timeouts.idleSeconds,
    connect_timeout: timeouts.connectMs / 1000,
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1),
    connection: {
      statement_timeout: timeouts.statementMs,
      idle_in_transaction_session_timeout: 5 * timeouts.statementMs,
      application_name: 'sessions-gateway',
    },
    ...(guard && { socket: guard.socket }),
  } as unknown as postgres.Options<Record<string, postgres.PostgresType>>);
  const deadlines = new Deadlines(timeouts.statementMs);
  const states = () => guard?.states() ?? {};
  const queued = () => deadlines.queued();
  metrics.connections.sources.add(states);
  metrics.pendingStatements.sources.add(queued);
  const stop = () => {
    guard?.stop();
    metrics.connections.sources.delete(states);
    metrics.pendingStatements.sources.delete(queued);
  };
  return { sql: bounded(sql, deadlines, health, guard), stop };
}
