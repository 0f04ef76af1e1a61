import type { IncomingMessage } from 'node:http';

/** A body over the limit: refused from Content-Length, or as soon as the bytes read pass it. */
export class BodyTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`Request body too large: the limit is ${limitBytes} bytes`);
  }
}

/** A body whose bytes are not UTF-8: nothing can be read from it without changing it. */
export class BodyNotUtf8Error extends Error {
  constructor() {
    super('The request body is not valid UTF-8');
  }
}

/**
 * A body that arrives in more pieces than a client would ever send it in (one-byte chunks, say):
 * each piece costs the process a callback, so their number is bounded too.
 */
export class BodyTooFragmentedError extends Error {
  constructor(readonly maxPieces: number) {
    super(`The request body came in more than ${maxPieces} pieces: send it in fewer, larger chunks`);
  }
}

/** Most pieces a body of `limit` bytes may come in: on average at least 64 bytes each. */
export const maxPieces = (limit: number) => Math.max(64, Math.ceil(limit / 64));

/** The client went away before its body arrived. */
export class BodyAbortedError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a request body of at most `limit` bytes as UTF-8 text, before anything parses it. The
 * bytes are copied into one buffer as they arrive, so a body sent in a thousand one-byte chunks
 * holds no more memory than one sent whole (each chunk Node hands over may pin a buffer of its own),
 * and the pieces are counted. How long the body may take is the server's request timeout.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(new BodyTooLargeError(limit));
  // A client that left while its request waited (for its credential, for its environment's turn)
  // sends no more events: without this, the wait for its body would never end, and would hold
  // its environment's room for good.
  if (req.destroyed) return Promise.reject(new BodyAbortedError('the client left before its body was read'));
  return new Promise((resolve, reject) => {
    let buffer = Buffer.allocUnsafe(Math.min(limit, declared >= 0 ? declared : 16_384));
    let size = 0;
    let pieces = 0;
    const onData = (chunk: Buffer) => {
      if (size + chunk.length > limit) {
        cleanup();
        return reject(new BodyTooLargeError(limit));
      }
      if (++pieces > maxPieces(limit)) {
        cleanup();
        return reject(new BodyTooFragmentedError(maxPieces(limit)));
      }
      if (size + chunk.length > buffer.length) {
        const grown = Buffer.allocUnsafe(Math.min(limit, Math.max(size + chunk.length, buffer.length * 2)));
        buffer.copy(grown, 0, 0, size);
        buffer = grown;
      }
      chunk.copy(buffer, size);
      size += chunk.length;
    };
    const onEnd = () => {
      cleanup();
      try {
        resolve(utf8.decode(buffer.subarray(0, size)));
      } catch {
        reject(new BodyNotUtf8Error());
      }
    };
    const onAbort = () => {
      cleanup();
      reject(new BodyAbortedError('request body incomplete'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('aborted', onAbort);
      req.off('close', onAbort);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('aborted', onAbort);
    // Closed before its end: gone (whichever of the above Node has emitted already).
    req.on('close', onAbort);
  });
}
