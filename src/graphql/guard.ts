import { type DocumentNode, getOperationAST, Kind, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ForbiddenError } from '../sessions/errors.js';
import type { Principal } from '../sessions/principal.js';
import type { Context } from './builder.js';

/** Root fields that need no credential: introspection and the subgraph's SDL. */
const OPEN_ROOT_FIELDS = new Set(['__typename', '__schema', '__type', '_service']);

/** The root field names an operation selects, through fragments (directives are not evaluated). */
function rootFields(document: DocumentNode, operation: OperationDefinitionNode): Set<string> {
  const fragments = new Map<string, SelectionSetNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition.selectionSet);
  }
  const names = new Set<string>();
  const seen = new Set<string>();
  const visit = (set: SelectionSetNode) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) names.add(selection.name.value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) visit(fragment);
      }
    }
  };
  visit(operation.selectionSet);
  return names;
}

interface Analysis {
  operation: OperationDefinitionNode;
  fields: Set<string>;
  open: boolean;
}

/**
 * Refuses before execution, with no `data`, what may not run: any data field without a valid
 * credential (401), a mutation or a listing with a public token (403). Reading a session a
 * public token does not cover stays a field error, decided by the core.
 */
export function useRequestGuard(mask: (error: unknown) => Error): Plugin<Context> {
  // Documents come from the parse cache, the same object for the same text: analysed once.
  const analysed = new WeakMap<DocumentNode, Map<string, Analysis>>();
  const analyse = (document: DocumentNode, operationName: string | null | undefined) => {
    let byName = analysed.get(document);
    if (!byName) analysed.set(document, (byName = new Map()));
    const key = operationName ?? '';
    let analysis = byName.get(key);
    if (!analysis) {
      const operation = getOperationAST(document, operationName);
      // An operation name the document lacks is not remembered: callers choose those freely.
      if (!operation) return null;
      const fields = rootFields(document, operation);
      analysis = { operation, fields, open: [...fields].every((n) => OPEN_ROOT_FIELDS.has(n)) };
      byName.set(key, analysis);
    }
    return analysis;
  };
  type Args = { document: DocumentNode; operationName?: string | null; contextValue: Context };
  type Stop = (result: { errors: readonly Error[] }) => void;

  /** Why this principal may not run this operation, or null. The core refuses these too; refusing here keeps `data` out. */
  const refusal = (principal: Principal, { operation, fields }: Analysis): Error | null => {
    if (principal.kind !== 'public') return null;
    if (operation.operation === 'mutation') {
      return new ForbiddenError('A public access token cannot create, update or close sessions: use a secret key');
    }
    if (fields.has('sessions')) return new ForbiddenError('A public access token cannot list sessions: use a secret key');
    return null;
  };

  // Synchronous when the credential is cached, as it mostly is: no promise on the hot path.
  const guard = (args: Args, stop: Stop) => {
    const analysis = analyse(args.document, args.operationName);
    if (!analysis || analysis.open) return;
    const decide = (principal: Principal) => {
      const refused = refusal(principal, analysis);
      if (refused) stop({ errors: [mask(refused)] });
    };
    const fail = (error: unknown) => void stop({ errors: [mask(error)] });
    let principal: Principal | Promise<Principal>;
    try {
      principal = args.contextValue.principal();
    } catch (error) {
      return fail(error);
    }
    return principal instanceof Promise ? principal.then(decide, fail) : decide(principal);
  };
  return {
    onExecute: ({ args, setResultAndStopExecution }) => guard(args as never, setResultAndStopExecution as never) as never,
    onSubscribe: ({ args, setResultAndStopExecution }) => guard(args as never, setResultAndStopExecution as never) as never,
  };
}
