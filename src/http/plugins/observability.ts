import { type DocumentNode, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../../graphql/builder.js';
import { boundedLabel, metrics, recording } from '../../telemetry/metrics.js';
import { inSpan, tracing } from '../../telemetry/tracing.js';

/** Operation names a client chooses: the first 100 keep theirs in the metrics, the rest are `other`. */
const operationLabel = boundedLabel(100);

interface Operation {
  name: string | null;
  type: string;
}

function operationOf(document: DocumentNode, operationName: string | null | undefined): Operation {
  const operation = getOperationAST(document, operationName);
  return { name: operation?.name?.value ?? null, type: operation?.operation ?? 'unknown' };
}

/**
 * The GraphQL operations' own instruments: parse, validate and execute spans (with
 * graphql.operation.name and .type, when tracing is on), the operation duration histogram, and
 * the operation on the request's record for its log line.
 */
export function useObservability(): Plugin<Context> {
  const started = new WeakMap<object, number>();
  const span =
    (name: string) =>
    ({ context }: { context: object }) => {
      if (!started.has(context)) started.set(context, performance.now());
      if (!tracing.on) return undefined;
      let end!: () => void;
      void inSpan(name, {}, () => new Promise<void>((resolve) => (end = resolve)));
      return () => end();
    };
  const execute = ({ args }: { args: { document: DocumentNode; operationName?: string | null; contextValue: Context } }) => {
    const operation = operationOf(args.document, args.operationName);
    args.contextValue.outcomes?.operations.push(operation);
    const attributes = { 'graphql.operation.type': operation.type, ...(operation.name && { 'graphql.operation.name': operation.name }) };
    let end: (() => void) | undefined;
    if (tracing.on)
      void inSpan(`graphql.execute ${operation.name ?? operation.type}`, attributes, () => new Promise<void>((resolve) => (end = resolve)));
    const from = started.get(args.contextValue) ?? performance.now();
    return {
      onExecuteDone: () => {
        end?.();
        const labels = {
          graphql_operation_name: operation.name === null ? 'anonymous' : operationLabel(operation.name),
          graphql_operation_type: operation.type,
        };
        if (recording.on) metrics.operationDuration.observe(labels, (performance.now() - from) / 1000);
      },
    };
  };
  return {
    onParse: span('graphql.parse'),
    onValidate: span('graphql.validate'),
    onExecute: execute as never,
    onSubscribe: execute as never,
  };
}
