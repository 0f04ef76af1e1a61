import { customType } from 'drizzle-orm/pg-core';

/**
 * PostgreSQL's text form of a one-dimensional text[], both ways. With fetch_types off, postgres.js
 * hands arrays over as this text, and Drizzle's own parser drops every backslash; parameters
 * bound to a raw `$n::text[]` placeholder get no column encoder, so they are written here too.
 */

/** A text[] column, read with the parser below whichever driver hands it over (PGlite parses arrays itself). */
export const textArrayColumn = customType<{ data: string[]; driverData: string | string[] }>({
  dataType: () => 'text[]',
  toDriver: (values) => textArray(values),
  fromDriver: (value) => (typeof value === 'string' ? (parseTextArray(value) as string[]) : value),
});

/** `["a", "b c"]` as `{"a","b c"}`, every element quoted and escaped. */
export function textArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}

/** `{a,"b c","d\\"e",NULL}` as its elements. */
export function parseTextArray(literal: string): (string | null)[] {
  const values: (string | null)[] = [];
  if (literal === '{}') return values;
  let i = 1;
  for (;;) {
    if (literal[i] === '"') {
      let value = '';
      for (i++; literal[i] !== '"'; i++) {
        if (literal[i] === '\\') i++;
        value += literal[i];
      }
      i++;
      values.push(value);
    } else {
      const end = literal.slice(i).search(/[,}]/) + i;
      const raw = literal.slice(i, end);
      values.push(raw === 'NULL' ? null : raw);
      i = end;
    }
    if (literal[i] !== ',') return values;
    i++;
  }
}
