/**
 * What the process writes about errors. A failed statement's text and parameters (metadata,
 * secrets) never reach a log line or the CLI: an error from the database is told by its codes.
 */

function chainOf(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e && chain.length < 8; ) {
    chain.push(e);
    const next = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
    e = next;
  }
  return chain;
}

/** Drizzle wraps every failed statement as "Failed query: <sql> params: <values>". */
function isQueryError(error: unknown): boolean {
  return error instanceof Error && (error.constructor.name === 'DrizzleQueryError' || error.message.startsWith('Failed query'));
}

/** A PostgreSQL error (SQLSTATE code): its message may quote a value, so only codes are shown. */
function isServerError(error: unknown): error is { code: string; constraint_name?: string; constraint?: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && (error as { severity?: unknown }).severity !== undefined;
}

/** Whether the error came from a statement: its message would show SQL text or values. */
export function isDatabaseError(error: unknown): boolean {
  return chainOf(error).some((e) => isQueryError(e) || isServerError(e));
}

/** A one-line description safe to print: SQLSTATE and constraint for database errors, else the message. */
export function describeError(error: unknown): string {
  const chain = chainOf(error);
  if (isDatabaseError(error)) {
    const server = chain.find(isServerError);
    const code =
      server?.code ?? (chain.map((e) => (e as { code?: unknown }).code).find((c) => typeof c === 'string') as string | undefined);
    const constraint = server && (server.constraint_name ?? server.constraint);
    return `database error${code ? ` ${code}` : ''}${constraint ? ` (constraint ${constraint})` : ''}`;
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
  }
  return String(error);
}

/** The stack of an error that is no database error (whose stack would start with its SQL). */
function stackOf(error: unknown): string | undefined {
  if (isDatabaseError(error)) return undefined;
  const deepest = chainOf(error).findLast((e): e is Error => e instanceof Error);
  return deepest?.stack?.split('\n').slice(1).join('\n');
}

function line(args: unknown[], withStack: boolean): string {
  return args
    .map((a) => {
      if (!(a instanceof Error) && !(a && typeof a === 'object' && 'message' in a)) return typeof a === 'string' ? a : JSON.stringify(a);
      const stack = withStack ? stackOf(a) : undefined;
      return describeError(a) + (stack ? `\n${stack}` : '');
    })
    .join(' ');
}

export const log = {
  info: (...args: unknown[]) => console.info(line(args, false)),
  warn: (...args: unknown[]) => console.warn(line(args, false)),
  error: (...args: unknown[]) => console.error(line(args, true)),
};
