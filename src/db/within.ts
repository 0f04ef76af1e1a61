import { DatabaseTimeoutError } from './availability.js';

/**
 * `promise`, or a rejection once `ms` have passed without it settling. The rejection waits one
 * more turn of the event loop (setImmediate runs after pending I/O): after the loop stalled, an
 * answer already arrived is read first, so a stall is not mistaken for the database's silence.
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => setImmediate(() => reject(new DatabaseTimeoutError(ms))), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
