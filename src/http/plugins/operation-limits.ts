import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { GraphQLError, ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * Operation bounds of the contract, measured as graphql-armor measures them. The cost limit fits
 * the heaviest legitimate operation, a full page of 100 sessions with every field (about 12,840).
 */
export const OPERATION_LIMITS = { aliases: 15, depth: 10, tokens: 1000, directives: 50, cost: 15_000 } as const;

// Reported into validation instead of thrown out of it, so the refusal is a 400
// GRAPHQL_VALIDATION_FAILED like any other invalid document.
const asValidationError = {
  propagateOnRejection: false,
  onReject: [(ctx: ValidationContext | null, error: GraphQLError) => ctx?.reportError(error)],
};

/**
 * graphql-armor's limits: the token limit while parsing, the others as validation rules, built
 * once and added in one hook (armor's own plugin adds each in a hook of its own, every request).
 */
export function useOperationLimits(production: boolean): Plugin[] {
  const rules = [
    maxAliasesRule({ n: OPERATION_LIMITS.aliases, ...asValidationError }),
    maxDepthRule({ n: OPERATION_LIMITS.depth, ...asValidationError }),
    maxDirectivesRule({ n: OPERATION_LIMITS.directives, ...asValidationError }),
    costLimitRule({ maxCost: OPERATION_LIMITS.cost, ...asValidationError }),
  ];
  return [
    maxTokensPlugin({ n: OPERATION_LIMITS.tokens }) as Plugin,
    {
      onValidate({ addValidationRule }) {
        for (const rule of rules) addValidationRule(rule);
      },
    },
    ...(production ? [blockFieldSuggestionsPlugin() as Plugin] : []),
  ];
}
