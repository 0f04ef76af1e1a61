import type { PothosOutputFieldConfig, SchemaTypes } from '@pothos/core';
import { isRootField } from '@pothos/plugin-tracing';
import { type GraphQLFieldResolver, type GraphQLResolveInfo, getNamedType, isAbstractType } from 'graphql';
import { metrics, recording } from '../telemetry/metrics.js';

/** Where a request's root-field outcomes are kept, for its log line, and how a thrown error is named. */
export interface FieldOutcomes {
  /** The operations run, by name and type. */
  operations: { name: string | null; type: string }[];
  fields: Record<string, string>;
  /** The top-level code a thrown error leaves with (the transport's catalogue). */
  codeOf(error: unknown): string;
}

/**
 * What a root field came to: the type of its value (the union member, for a field with typed
 * errors: UpdateSessionSuccess, ExternalIdImmutableError, …), `null`, or for a thrown error the
 * top-level code it will leave with.
 */
function outcomeOf(value: unknown, info: GraphQLResolveInfo, context: unknown): string {
  if (value === null || value === undefined) return 'null';
  const type = getNamedType(info.returnType);
  if (!isAbstractType(type)) return type.name;
  const resolved = type.resolveType?.(value, context, info, type);
  return typeof resolved === 'string' ? resolved : type.name;
}

/**
 * The union member a thrown error becomes (the errors plugin turns a listed error class into its
 * member outside this wrapper), or undefined when it leaves as a top-level error.
 */
function memberOf(error: unknown, info: GraphQLResolveInfo, context: unknown): string | undefined {
  const type = getNamedType(info.returnType);
  if (!(error instanceof Error) || !isAbstractType(type)) return undefined;
  return info.schema.getPossibleTypes(type).find((member) => member.isTypeOf?.(error, context, info) === true)?.name;
}

/** Root fields only (a wrapper on every field would cost every field); subscriptions resolve per event. */
export const observedField = <Types extends SchemaTypes>(config: PothosOutputFieldConfig<Types>) =>
  isRootField(config) && config.parentType !== 'Subscription';

/**
 * Wraps a root field's resolver (through @pothos/plugin-tracing) to count its outcome in
 * graphql_root_field_outcomes_total and note it for the request's log line.
 */
export function observeRootField<C extends { outcomes?: FieldOutcomes }>(
  resolver: GraphQLFieldResolver<unknown, C, Record<string, unknown>>,
): GraphQLFieldResolver<unknown, C, Record<string, unknown>> {
  return (source, args, context, info) => {
    const note = (outcome: string) => {
      if (recording.on) metrics.rootFields.inc({ field: info.fieldName, outcome });
      if (context.outcomes) context.outcomes.fields[info.path.key as string] = outcome;
    };
    const failed = (error: unknown) => {
      note(memberOf(error, info, context) ?? context.outcomes?.codeOf(error) ?? 'error');
      throw error;
    };
    let result: unknown;
    try {
      result = resolver(source, args, context, info);
    } catch (error) {
      return failed(error);
    }
    if (result instanceof Promise) {
      return result.then((value) => {
        note(outcomeOf(value, info, context));
        return value;
      }, failed);
    }
    note(outcomeOf(result, info, context));
    return result;
  };
}
