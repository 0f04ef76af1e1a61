import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A whole answer in one write: its head with Content-Length, then the body (a head written before
 * the body is known would send the body chunked, in three pieces).
 */
export function answer(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/** Whether part of the request's body is still unread (a request without one has none). */
function unread(req: IncomingMessage | undefined): boolean {
  if (!req || req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * A JSON answer. One given before the request body was read to its end closes the connection
 * (`Connection: close`), so no client sends its next request after an unread body.
 */
export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  answer(
    res,
    status,
    { 'content-type': 'application/json; charset=utf-8', ...(unread(res.req) && { connection: 'close' }), ...headers },
    JSON.stringify(body),
  );
}
