import type { ServerResponse } from 'node:http';

/**
 * A JSON answer. One given before the request body was read to its end closes the connection
 * (`Connection: close`), so no client sends its next request after an unread body.
 */
export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const unread = res.req && !res.req.complete;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...(unread && { connection: 'close' }), ...headers });
  res.end(JSON.stringify(body));
}
