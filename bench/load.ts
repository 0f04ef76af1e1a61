/**
 * The load generator, in a process of its own: autocannon POSTing one operation with variables
 * cycling over the sessions given. Prints one JSON line: req/s, latency percentiles, errors.
 *
 *   node --import tsx bench/load.ts '{"url": …, "connections": 32, "seconds": 10, …}'
 */
import autocannon from 'autocannon';

interface Load {
  url: string;
  connections: number;
  seconds: number;
  key: string;
  query: string;
  ids: string[];
  /**
   * update: new tags and metadata each time; read: one id; entities: 100 representations;
   * rest: the same update as PATCH /api/v1/sessions/{id} (url is then the server's origin).
   */
  mode: 'update' | 'read' | 'entities' | 'rest';
}

const load = JSON.parse(process.argv[2]!) as Load;
let n = 0;
const result = await autocannon({
  url: load.url,
  connections: load.connections,
  duration: load.seconds,
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${load.key}` },
  requests: [
    {
      setupRequest: (request) => {
        const i = n++;
        const id = load.ids[i % load.ids.length]!;
        if (load.mode === 'rest') {
          const body = JSON.stringify({ tags: [`t${i % 97}`, 'bench'], metadata: { n: i, topic: 'load' } });
          return { ...request, method: 'PATCH', path: `/api/v1/sessions/${id}`, body };
        }
        const variables =
          load.mode === 'update'
            ? { id, input: { tags: [`t${i % 97}`, 'bench'], metadata: { n: i, topic: 'load' } } }
            : load.mode === 'read'
              ? { id }
              : { r: Array.from({ length: 100 }, (_, k) => ({ __typename: 'Session', id: load.ids[(i + k) % load.ids.length] })) };
        return { ...request, body: JSON.stringify({ query: load.query, variables }) };
      },
    },
  ],
});
const ok = result['2xx'];
console.log(
  JSON.stringify({
    requests: result.requests.total,
    ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    rps: ok / (result.duration || load.seconds),
    p50: result.latency.p50,
    p99: result.latency.p99,
  }),
);
