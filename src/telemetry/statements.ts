import { SpanKind } from '@opentelemetry/api';
import { metrics, recording } from './metrics.js';
import { inSpan, tracing } from './tracing.js';

/**
 * Runs one SQL statement under its span (`db.system.name` postgresql, its name, never its text or
 * values) and its duration histogram. postgres.js has no instrumentation of its own, so the store
 * observes its statements here.
 */
export function observeStatement<T>(name: string, run: () => Promise<T>): Promise<T> {
  const traced = () =>
    tracing.on ? inSpan(name, { 'db.system.name': 'postgresql', 'db.operation.name': name }, run, SpanKind.CLIENT) : run();
  if (!recording.on) return traced();
  const started = performance.now();
  const observed = traced();
  return observed.then(
    (value) => {
      metrics.statementDuration.observe({ db_statement: name, outcome: 'ok' }, (performance.now() - started) / 1000);
      return value;
    },
    (error: unknown) => {
      metrics.statementDuration.observe({ db_statement: name, outcome: 'error' }, (performance.now() - started) / 1000);
      throw error;
    },
  );
}

/** A query prepared under `name`, each of its executions observed under that name. */
export function prepared<V, R>(
  query: { prepare(name: string): { execute(values: V): Promise<R> } },
  name: string,
): { execute(values: V): Promise<R> } {
  const statement = query.prepare(name);
  return { execute: (values) => observeStatement(name, () => statement.execute(values)) };
}
