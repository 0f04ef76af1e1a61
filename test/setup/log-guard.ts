import { format } from 'node:util';
import { afterAll } from 'vitest';

/**
 * Across the whole suite, nothing the service logs may hold SQL text, a statement's parameters,
 * a secret key or a token: every console line is checked, and a file that printed one fails.
 */
const FORBIDDEN: [string, RegExp][] = [
  ['a failed statement', /Failed query|\bparams: /i],
  ['SQL text', /\b(insert into|delete from|update "sessions"|select "|from "(sessions|api_keys|environments)")/i],
  ['a secret key', /\btr_(dev|stg|prod|prev)_[A-Za-z0-9_-]{24,}/],
  ['a public access token', /\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/],
];

const seen: string[] = [];
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    const line = format(...args);
    for (const [what, pattern] of FORBIDDEN) if (pattern.test(line)) seen.push(`${what} in console.${method}: ${line.slice(0, 300)}`);
    original(...args);
  };
}

afterAll(() => {
  if (seen.length > 0) throw new Error(`the service logged what it must not:\n${seen.join('\n')}`);
});
