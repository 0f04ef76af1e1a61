import { type DocumentNode, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../../graphql/builder.js';
import { boundedLabel, metrics, recording } from '../../telemetry/metrics.js';
import { inSpan, pastSpan, tracing } from '../../telemetry/tracing.js';

/** Operation names a client chooses: the first 100 keep theirs in the metrics, the rest are `other`. */
const operationLabel = boundedLabel(100);
/** A name longer than this is told as `other` (labels, spans) and cut short in the log line. */
const NAME_MAX = 64;

/** What envelop's execute and subscribe hooks hand over. */
type OperationArgs = { document: DocumentNode; operationName?: string | null; contextValue: Context };

interface Operation {
  name: string | null;
  type: string;
}

function operationOf(document: DocumentNode, operationName: string | null | undefined): Operation {
  const operation = getOperationAST(document, operationName);
  const name = operation?.name?.value ?? null;
  return { name: name !== null && name.length > NAME_MAX ? `${name.slice(0, NAME_MAX)}…` : name, type: operation?.operation ?? 'unknown' };
}

const labelOf = (name: string | null) => (name === null ? 'anonymous' : name.length > NAME_MAX ? 'other' : operationLabel(name));

/**
 * The GraphQL operations' own instruments: parse, validate and execute spans (with
 * graphql.operation.name and .type, when tracing is on), the duration histogram of queries and
 * mutations, and each operation on the request's record for its log line.
 */
export function useObservability(): Plugin<Context> {
  const started = new WeakMap<object, number>();
  // Parse and validate spans are made once the step is done, back-dated to its start: a step
  // that throws (a parse error served from the cache, say) leaves no span open.
  const step =
    (name: string) =>
    ({ context }: { context: object }) => {
      const at = performance.now();
      if (!started.has(context)) started.set(context, at);
      if (!tracing.on) return undefined;
      return () => pastSpan(name, at);
    };
  const operation = (args: OperationArgs) => {
    const found = operationOf(args.document, args.operationName);
    args.contextValue.outcomes?.operations.push(found);
    return found;
  };
  const execute = ({ args }: { args: OperationArgs }) => {
    const { name, type } = operation(args);
    const label = labelOf(name);
    let end: (() => void) | undefined;
    if (tracing.on) {
      const attributes = { 'graphql.operation.type': type, ...(name && { 'graphql.operation.name': label }) };
      void inSpan(`graphql.execute ${name ? label : type}`, attributes, () => new Promise<void>((resolve) => (end = resolve)));
    }
    const from = started.get(args.contextValue) ?? performance.now();
    return {
      onExecuteDone: () => {
        end?.();
        if (recording.on)
          metrics.operationDuration.observe(
            { graphql_operation_name: label, graphql_operation_type: type },
            (performance.now() - from) / 1000,
          );
      },
    };
  };
  return {
    onParse: step('graphql.parse'),
    onValidate: step('graphql.validate'),
    onExecute: execute as never,
    // A subscription is on the log line; it has no duration of its own to measure.
    onSubscribe: (({ args }: { args: OperationArgs }) => {
      operation(args);
    }) as never,
  };
}
