import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The one metrics registry (prom-client) and every metric the service exports, declared here. No
 * label holds a value a caller chooses, but the operation name, which is capped (`boundedLabel`).
 */
export const registry = new Registry();

let on = true;
let processMetrics = false;
/**
 * Whether the per-request metrics (durations, outcomes) are recorded: METRICS=0 turns them off,
 * with /metrics and Node's process metrics (a GC observer, an event-loop delay monitor), so that
 * they cost nothing.
 */
export const recording = {
  get on(): boolean {
    return on;
  },
  set(value: boolean): void {
    on = value;
    if (on && !processMetrics) {
      processMetrics = true;
      collectDefaultMetrics({ register: registry });
    }
  },
};

/** OpenTelemetry's recommended buckets for durations in seconds. */
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** A gauge read when scraped: the sum of what every source (one per pool, say) reports. */
function sampled(name: string, help: string, labelNames: string[] = []) {
  const sources = new Set<() => Record<string, number> | number>();
  const gauge = new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const source of sources) {
        const value = source();
        if (typeof value === 'number') this.inc(value);
        else for (const [label, n] of Object.entries(value)) this.inc({ [labelNames[0]!]: label }, n);
      }
    },
  });
  return { gauge, sources };
}

export const metrics = {
  httpDuration: new Histogram({
    name: 'http_server_request_duration_seconds',
    help: 'Duration of HTTP requests, by method, route template and status',
    labelNames: ['http_request_method', 'http_route', 'http_response_status_code'],
    buckets: SECONDS,
    registers: [registry],
  }),
  operationDuration: new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'Duration of GraphQL operations, parse to result, by operation name (the first 100 seen, then "other") and type',
    labelNames: ['graphql_operation_name', 'graphql_operation_type'],
    buckets: SECONDS,
    registers: [registry],
  }),
  rootFields: new Counter({
    name: 'graphql_root_field_outcomes_total',
    help: "Root fields resolved, by field and outcome: the result's type (a union member) or a top-level error code",
    labelNames: ['field', 'outcome'],
    registers: [registry],
  }),
  statementDuration: new Histogram({
    name: 'db_client_operation_duration_seconds',
    help: 'Duration of SQL statements, from asking for a connection to the rows, by statement name and outcome',
    labelNames: ['db_statement', 'outcome'],
    buckets: SECONDS,
    registers: [registry],
  }),
  deadlineExpirations: new Counter({
    name: 'db_statement_deadline_expirations_total',
    help: 'Statements that got no answer within DATABASE_TIMEOUT_MS',
    registers: [registry],
  }),
  databaseReachable: new Gauge({
    name: 'db_reachable',
    help: '1 while the database answers, 0 while it does not',
    registers: [registry],
  }),
  connections: sampled('db_client_connections', 'Connections of the pool to PostgreSQL, by state (idle, used)', ['state']),
  pendingStatements: sampled('db_client_connection_pending_requests', 'Statements waiting for a pool connection'),
  refusals: new Counter({
    name: 'rate_limit_refusals_total',
    help: 'Requests and messages refused for a limit, by kind',
    labelNames: ['kind'],
    registers: [registry],
  }),
  liveSubscriptions: sampled('graphql_live_subscriptions', 'Live subscriptions (SSE and WebSocket) open on this instance'),
  listening: sampled(
    'db_listen_connected',
    '1 while the connection listening for session changes is up (0 when none is needed or it is down)',
  ),
  webSockets: sampled('websocket_connections', 'Authenticated WebSockets open on this instance'),
};

/** The kinds of rate_limit_refusals_total, each a limit of docs/SECURITY.md. */
export type RefusalKind = 'credential' | 'address' | 'environment' | 'websocket_messages' | 'websockets' | 'subscriptions';

/**
 * A label value a caller chooses, bounded: the first `max` distinct values keep their name, the
 * rest are counted as `other`, so no client can grow the number of series.
 */
export function boundedLabel(max: number) {
  const seen = new Set<string>();
  return (value: string): string => {
    if (seen.has(value)) return value;
    if (seen.size >= max) return 'other';
    seen.add(value);
    return value;
  };
}
