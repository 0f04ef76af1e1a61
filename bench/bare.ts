/**
 * The bare baseline: node:http and postgres.js doing the same work with nothing else. It reads
 * the JSON body, checks the secret key against an in-memory map of SHA-256 hashes, runs the same
 * single UPDATE (or SELECT) and writes JSON, for the GraphQL POST and for the REST PATCH. No GraphQL,
 * no rules, no limits.
 *
 *   DATABASE_URL=… PORT=4100 node --import tsx bench/bare.ts
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import postgres from 'postgres';

const sql = postgres(process.env.DATABASE_URL!, { max: Number(process.env.DATABASE_POOL_SIZE ?? 10), onnotice: () => {} });
const keys = new Map<string, string>();
for (const row of await sql<
  { key_hash: string; environment_id: string }[]
>`select key_hash, environment_id from api_keys where revoked_at is null`) {
  keys.set(row.key_hash, row.environment_id);
}

const COLUMNS = sql`id, external_id, type, task_identifier, tags, metadata, version, created_at, updated_at`;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const key = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      const environmentId = key && keys.get(createHash('sha256').update(key).digest('hex'));
      if (!environmentId) return send(401, { errors: [{ message: 'unauthenticated' }] });
      if (req.method === 'PATCH') {
        // The REST route: PATCH /api/v1/sessions/{id} with the input as the body.
        const id = decodeURIComponent(req.url!.slice('/api/v1/sessions/'.length));
        const [row] = await sql`update sessions set tags = ${body.tags}, metadata = ${sql.json(body.metadata)},
          version = version + 1, updated_at = now()
          where environment_id = ${environmentId} and id = ${id} returning ${COLUMNS}`;
        res.setHeader('etag', `"${row!.version}"`);
        return send(200, row);
      }
      const { id, input } = body.variables;
      if (body.query.startsWith('mutation')) {
        const [row] = await sql`update sessions set tags = ${input.tags}, metadata = ${sql.json(input.metadata)},
          version = version + 1, updated_at = now()
          where environment_id = ${environmentId} and id = ${id} returning ${COLUMNS}`;
        send(200, { data: { updateSession: { __typename: 'UpdateSessionSuccess', session: row } } });
      } else {
        const [row] = await sql`select ${COLUMNS} from sessions where environment_id = ${environmentId} and id = ${id}`;
        send(200, { data: { session: row ?? null } });
      }
    } catch (error) {
      send(500, { errors: [{ message: (error as Error).message }] });
    }
  });
});
server.listen(Number(process.env.PORT ?? 4100), '127.0.0.1', () => console.log(`bare baseline listening on ${process.env.PORT ?? 4100}`));
process.on('SIGTERM', () => server.close(() => sql.end().then(() => process.exit(0))));
