import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { registry } from '../telemetry/metrics.js';
import { answer, send } from './respond.js';

/** Whether the request may read /metrics: any, or one with `Authorization: Bearer <METRICS_TOKEN>`. */
function allowed(req: IncomingMessage, token: string | null): boolean {
  if (token === null) return true;
  const sent = Buffer.from(req.headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return sent.length === expected.length && timingSafeEqual(sent, expected);
}

/** Prometheus's text format of every metric, or 401 without the token. */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, token: string | null): Promise<void> {
  if (!allowed(req, token))
    return send(res, 401, { error: 'Send Authorization: Bearer <METRICS_TOKEN>' }, { 'www-authenticate': 'Bearer' });
  answer(res, 200, { 'content-type': registry.contentType }, await registry.metrics());
}

/** /metrics on a port of its own (METRICS_PORT), and nothing else there. */
export function metricsServer(token: string | null): Server {
  return createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] === '/metrics') return void serveMetrics(req, res, token);
    send(res, 404, { error: 'Only /metrics is served on this port' });
  });
}
