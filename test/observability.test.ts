import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Trace } from '@apollo/usage-reporting-protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEnvironment } from '../src/auth/environments.js';
import { log, setLogLevel } from '../src/log.js';
import { registry } from '../src/telemetry/metrics.js';
import { startTracing } from '../src/telemetry/tracing.js';
import { logged } from './setup/log-guard.js';
import { baseCreateInput, drivers, GET, startTestApp, type TestApp, UPDATE } from './support.js';

/**
 * What an operator sees: a JSON line per request, Prometheus metrics, OpenTelemetry spans received
 * by a collector of the test's own, and Apollo's inline trace for a gateway that asks for it.
 */

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

/** An OTLP/HTTP receiver (JSON): the spans it was sent. */
async function collector(): Promise<{ url: string; spans: Span[]; bodies: number; close(): Promise<void> }> {
  const received = { spans: [] as Span[], bodies: 0 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.bodies++;
      const parsed = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: Span[] }[] }[] };
      for (const resource of parsed.resourceSpans) for (const scope of resource.scopeSpans) received.spans.push(...scope.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get spans() {
      return received.spans;
    },
    get bodies() {
      return received.bodies;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const attribute = (span: Span, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? (value?.intValue !== undefined ? Number(value.intValue) : undefined);
};

/** The request's line of the log, by its request id (the latest: each driver's pass sends the same ids). */
function lineOf(requestId: string): Record<string, any> {
  const line = logged.map((l) => JSON.parse(l) as Record<string, any>).findLast((l) => l['msg'] === 'request' && l['reqId'] === requestId);
  expect(line, `a log line for request ${requestId}`).toBeDefined();
  return line!;
}

/** One series' value in Prometheus's text format (its labels in any order). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((w) => line.includes(w))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe.each(drivers)('logs, metrics and traces on %s', (driver) => {
  let t: TestApp;
  let env: NewEnvironment;
  let receiver: Awaited<ReturnType<typeof collector>>;
  let stopTracing: () => Promise<void>;
  const auth = () => ({ authorization: `Bearer ${env.secretKey}`, 'content-type': 'application/json' });
  const metricsText = async () => (await t.fetch('/metrics')).text();

  beforeAll(async () => {
    receiver = await collector();
    // The SDK's parts read their settings from the process's environment (this file's own process).
    Object.assign(process.env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_SERVICE_NAME: 'sessions-gateway-test',
    });
    stopTracing = await startTracing();
    t = await startTestApp(driver);
    env = await t.newEnvironment();
  });
  afterAll(async () => {
    await t?.close();
    await stopTracing?.();
    await receiver?.close();
  });

  it('writes one JSON line per request, with its id, route, status, duration, operation, outcomes and environment', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'logged-1' }));
    const response = await t.fetch('/graphql', {
      method: 'POST',
      headers: { ...auth(), 'x-request-id': 'req-abc.123' },
      body: JSON.stringify({ query: UPDATE, variables: { id: s.id, input: { tags: ['a'] } } }),
    });
    expect(response.headers.get('x-request-id')).toBe('req-abc.123');
    await response.arrayBuffer();
    await sleep(50);
    const line = lineOf('req-abc.123');
    expect(line).toMatchObject({
      level: 'info',
      method: 'POST',
      route: '/graphql',
      status: 200,
      environmentId: env.environmentId,
      graphql: { operations: [{ name: 'Update', type: 'mutation' }], fields: { updateSession: 'UpdateSessionSuccess' } },
    });
    expect(line['durationMs']).toBeGreaterThan(0);
    expect(line['trace_id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('names each root field’s outcome: a union member, or the top-level code it left with', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'logged-2' }));
    const query = `mutation { a: updateSession(id: "${s.id}", input: { externalId: "other" }) { __typename } b: updateSession(id: "session_nope", input: {}) { __typename } }`;
    const first = await t.fetch('/graphql', {
      method: 'POST',
      headers: { ...auth(), 'x-request-id': 'outcomes-1' },
      body: JSON.stringify({ query }),
    });
    await first.arrayBuffer();
    const token = s.publicAccessToken;
    const other = await t.createSession(env.secretKey);
    const read = await t.fetch('/graphql', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': 'outcomes-2' },
      body: JSON.stringify({ query: `{ mine: session(id: "logged-2") { id } theirs: session(id: "${other.id}") { id } }` }),
    });
    await read.arrayBuffer();
    await sleep(50);
    expect(lineOf('outcomes-1')['graphql'].fields).toEqual({ a: 'ExternalIdImmutableError', b: 'SessionNotFoundError' });
    expect(lineOf('outcomes-2')['graphql'].fields).toEqual({ mine: 'Session', theirs: 'FORBIDDEN' });
  });

  it('logs the REST route template, never the id, and echoes a request id on refusals before parsing too', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'rest-logged' }));
    const patch = await t.fetch(`/api/v1/sessions/${s.id}`, {
      method: 'PATCH',
      headers: { ...auth(), 'x-request-id': 'rest-1' },
      body: JSON.stringify({ tags: ['b'] }),
    });
    expect(patch.headers.get('x-request-id')).toBe('rest-1');
    await patch.arrayBuffer();
    // Refused before the body is read (no credential), and with a request id of its own making.
    const refused = await t.fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'no such id!' },
      body: '{"query":"{ session(id: \\"x\\") { id } }"}',
    });
    const made = refused.headers.get('x-request-id');
    expect(made).toMatch(/^[\w-]{16}$/);
    await refused.arrayBuffer();
    await sleep(50);
    expect(lineOf('rest-1')).toMatchObject({ method: 'PATCH', route: '/api/v1/sessions/{session}', status: 200 });
    expect(lineOf(made!)).toMatchObject({ route: '/graphql', status: 401 });
    expect(logged.filter((l) => l.includes(s.id))).toEqual([]);
  });

  it('keeps keys, tokens, metadata, tags and externalIds out of every line; probes are logged at debug', async () => {
    const s = await t.createSession(env.secretKey, baseCreateInput({ externalId: 'ext-value-7f3a' }));
    await t.gql(
      UPDATE,
      { id: 'ext-value-7f3a', input: { tags: ['tag-value-9c1e'], metadata: { note: 'meta-value-2b8d' } } },
      env.secretKey,
    );
    await t.gql(GET, { id: s.id }, s.publicAccessToken);
    const health = await t.fetch('/health', { headers: { 'x-request-id': 'probe-1' } });
    await health.arrayBuffer();
    await sleep(50);
    for (const secret of [env.secretKey, s.publicAccessToken, 'ext-value-7f3a', 'tag-value-9c1e', 'meta-value-2b8d']) {
      expect(logged.filter((l) => l.includes(secret))).toEqual([]);
    }
    expect(logged.some((l) => l.includes('"reqId":"probe-1"'))).toBe(false);
  });

  it('switches the level of every line, request lines included, while serving (setLogLevel)', async () => {
    const ask = async (id: string) => {
      const response = await t.fetch('/graphql', {
        method: 'POST',
        headers: { ...auth(), 'x-request-id': id },
        body: '{"query":"{ __typename }"}',
      });
      await response.arrayBuffer();
    };
    try {
      setLogLevel('warn');
      expect(log.enabled('info')).toBe(false);
      await ask('level-warn');
      // Its line is decided when the server closes the response, just after the client has it.
      await sleep(50);
      setLogLevel('info');
      await ask('level-info');
    } finally {
      setLogLevel(process.env['LOG_LEVEL'] ?? 'info');
    }
    await sleep(50);
    expect(logged.some((l) => l.includes('"reqId":"level-warn"'))).toBe(false);
    expect(lineOf('level-info')).toMatchObject({ route: '/graphql', status: 200 });
  });

  it('serves Prometheus metrics that move with what the service does, with bounded labels', async () => {
    const before = await metricsText();
    const s = await t.createSession(env.secretKey);
    await t.gql(UPDATE, { id: s.id, input: { tags: ['m'] } }, env.secretKey);
    const after = await metricsText();
    const moved = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(moved('graphql_root_field_outcomes_total', { field: 'updateSession', outcome: 'UpdateSessionSuccess' })).toBe(1);
    expect(
      moved('http_server_request_duration_seconds_count', { http_route: '/graphql', http_response_status_code: '200' }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      moved('graphql_operation_duration_seconds_count', { graphql_operation_name: 'Update', graphql_operation_type: 'mutation' }),
    ).toBe(1);
    expect(moved('db_client_operation_duration_seconds_count', { db_statement: 'plain_write_session_by_id', outcome: 'ok' })).toBe(1);
    expect(sample(after, 'db_reachable')).toBe(1);
    expect(after).toContain('process_resident_memory_bytes');
    expect(after).not.toContain(s.id);
  });

  it('counts at most 100 distinct operation names (then "other"), whatever clients send', async () => {
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          t
            .fetch('/graphql', { method: 'POST', headers: auth(), body: JSON.stringify({ query: `query Name${i + j} { __typename }` }) })
            .then((r) => r.arrayBuffer()),
        ),
      );
    }
    const names = new Set(
      [...(await metricsText()).matchAll(/^graphql_operation_duration_seconds_count\{[^}]*graphql_operation_name="([^"]*)"/gm)].map(
        (m) => m[1],
      ),
    );
    expect(names.size).toBeLessThanOrEqual(102); // 100 names, `other`, `anonymous`
    expect(names.has('other')).toBe(true);
  });

  it('tells a name over 64 characters as `other`, and cuts it short in the log line', async () => {
    const long = `Q${'x'.repeat(20_000)}`;
    const response = await t.fetch('/graphql', {
      method: 'POST',
      headers: { ...auth(), 'x-request-id': 'long-name' },
      body: JSON.stringify({ query: `query ${long} { __typename }` }),
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    await sleep(50);
    expect(lineOf('long-name')['graphql'].operations).toEqual([{ name: `${long.slice(0, 64)}…`, type: 'query' }]);
    expect(await metricsText()).not.toContain('x'.repeat(65));
  });

  it.skipIf(!existsSync('/usr/bin/promtool') && !process.env['REQUIRE_PROMTOOL'])('passes promtool check metrics', async () => {
    const text = await metricsText();
    const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(checked.error).toBeUndefined();
    // prom-client's own default gauges nodejs_active_{handles,requests,resources}_total end in
    // _total, which promtool's linter flags; those names are prom-client's, kept as dashboards know
    // them. Every other line (ours) must be clean.
    const problems = `${checked.stdout}${checked.stderr}`
      .split('\n')
      .filter((line) => line.trim() && !/^nodejs_active_(handles|requests|resources)_total non-counter metrics/.test(line));
    expect(problems).toEqual([]);
  });

  it('has every metric docs/grafana-dashboard.json queries', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
      panels: { targets: { expr: string }[] }[];
    };
    const exported = new Set(
      [...(await metricsText()).matchAll(/^# TYPE (\S+) (\w+)/gm)].flatMap(([, name, type]) =>
        type === 'histogram' ? [`${name}_bucket`, `${name}_count`, `${name}_sum`] : [name!],
      ),
    );
    const used = dashboard.panels.flatMap((p) =>
      p.targets.flatMap((target) => [...target.expr.matchAll(/\b([a-z_]+)\{/g)].map((m) => m[1]!)),
    );
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !exported.has(name))).toEqual([]);
  });

  it('sends spans to the collector: the server span continues the caller’s traceparent, with operation and statement spans inside', async () => {
    const s = await t.createSession(env.secretKey);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const response = await t.fetch('/graphql', {
      method: 'POST',
      headers: { ...auth(), traceparent: `00-${traceId}-${parent}-01`, 'x-request-id': 'traced-1' },
      body: JSON.stringify({
        query: UPDATE,
        variables: { id: s.id, input: { tags: ['traced'], metadata: { secret: 'span-value-5e2f' } } },
      }),
    });
    await response.arrayBuffer();
    await expect.poll(() => receiver.spans.filter((span) => span.traceId === traceId).length).toBeGreaterThanOrEqual(4);
    const spans = receiver.spans.filter((span) => span.traceId === traceId);
    const server = spans.find((span) => span.parentSpanId === parent)!;
    expect(server).toMatchObject({ name: 'POST /graphql', kind: 2 });
    expect(attribute(server, 'http.response.status_code')).toBe(200);
    const execute = spans.find((span) => span.name.startsWith('graphql.execute'))!;
    expect(attribute(execute, 'graphql.operation.name')).toBe('Update');
    expect(attribute(execute, 'graphql.operation.type')).toBe('mutation');
    const statement = spans.find((span) => attribute(span, 'db.system.name') === 'postgresql')!;
    expect(statement.name).toBe('plain_write_session_by_id');
    // Every span is the server span's, or beneath it.
    const ids = new Set(spans.map((span) => span.spanId));
    for (const span of spans) expect(span === server || ids.has(span.parentSpanId!)).toBe(true);
    // No value the request carried is an attribute of any span.
    expect(JSON.stringify(spans)).not.toMatch(new RegExp(`${s.id}|span-value-5e2f|traced"`));
    // The request's log line carries the server span's ids.
    expect(lineOf('traced-1')).toMatchObject({ trace_id: traceId, span_id: server.spanId });
  });

  it('gives the REST routes the same server and statement spans', async () => {
    const s = await t.createSession(env.secretKey);
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const response = await t.fetch(`/api/v1/sessions/${s.id}`, {
      headers: { ...auth(), traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    });
    await response.arrayBuffer();
    await expect.poll(() => receiver.spans.filter((span) => span.traceId === traceId).length).toBeGreaterThanOrEqual(2);
    const spans = receiver.spans.filter((span) => span.traceId === traceId);
    expect(spans.map((span) => span.name)).toEqual(expect.arrayContaining(['GET /api/v1/sessions/{session}', 'find_session_by_id']));
  });

  it('answers Apollo’s inline trace (ftv1) when a gateway asks for it, and only then', async () => {
    const s = await t.createSession(env.secretKey);
    const query = JSON.stringify({ query: GET, variables: { id: s.id } });
    const asked = await t.fetch('/graphql', {
      method: 'POST',
      headers: { ...auth(), 'apollo-federation-include-trace': 'ftv1' },
      body: query,
    });
    const body = (await asked.json()) as { data: { session: { id: string } }; extensions?: { ftv1?: string } };
    expect(body.data.session.id).toBe(s.id);
    const trace = Trace.decode(Buffer.from(body.extensions!.ftv1!, 'base64'));
    expect(Number(trace.durationNs)).toBeGreaterThan(0);
    expect(trace.root!.child!.map((node) => node.responseName)).toContain('session');
    const plain = (await (await t.fetch('/graphql', { method: 'POST', headers: auth(), body: query })).json()) as { extensions?: unknown };
    expect(plain.extensions).toBeUndefined();
  });

  it('describes the same schema to a gateway asking for ftv1 as to everyone else', async () => {
    const query = JSON.stringify({ query: '{ __schema { types { name fields { name args { name } } } } }' });
    const introspect = async (headers: Record<string, string>) => {
      const answer = (await (await t.fetch('/graphql', { method: 'POST', headers: { ...auth(), ...headers }, body: query })).json()) as {
        data: { __schema: { types: { name: string }[] } };
      };
      return answer.data.__schema.types.sort((a, b) => a.name.localeCompare(b.name));
    };
    const plain = await introspect({});
    expect(plain.map((type) => type.name)).toContain('Float');
    expect(await introspect({ 'apollo-federation-include-trace': 'ftv1' })).toEqual(plain);
  });
});

describe('/metrics settings', () => {
  it('asks for METRICS_TOKEN when it is set', async () => {
    const t = await startTestApp('pglite', { METRICS_TOKEN: 'a-token-of-16-chars-or-more' });
    try {
      expect((await t.fetch('/metrics')).status).toBe(401);
      expect((await t.fetch('/metrics', { headers: { authorization: 'Bearer wrong-token-of-16-chars' } })).status).toBe(401);
      const ok = await t.fetch('/metrics', { headers: { authorization: 'Bearer a-token-of-16-chars-or-more' } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    } finally {
      await t.close();
    }
  });

  it('records nothing and serves no /metrics with METRICS=0', async () => {
    const t = await startTestApp('pglite', { METRICS: '0' });
    try {
      const env = await t.newEnvironment();
      const perRequest = () =>
        Promise.all(
          [
            'http_server_request_duration_seconds',
            'graphql_operation_duration_seconds',
            'graphql_root_field_outcomes_total',
            'db_client_operation_duration_seconds',
          ].map((name) => registry.getSingleMetricAsString(name)),
        );
      const before = await perRequest();
      const s = await t.createSession(env.secretKey);
      await t.gql(UPDATE, { id: s.id, input: { tags: ['off'] } }, env.secretKey);
      expect((await t.fetch('/metrics')).status).toBe(404);
      expect(await perRequest()).toEqual(before);
    } finally {
      await t.close();
    }
  });

  it('serves /metrics on METRICS_PORT only, not on the service’s port', async () => {
    const t = await startTestApp('pglite', { METRICS_PORT: '0' });
    try {
      expect((await t.fetch('/metrics')).status).toBe(404);
      const own = await fetch(t.http.metricsUrl);
      expect(own.status).toBe(200);
      expect(await own.text()).toContain('http_server_request_duration_seconds');
      expect((await fetch(t.http.metricsUrl.replace('/metrics', '/graphql'))).status).toBe(404);
    } finally {
      await t.close();
    }
  });
});
