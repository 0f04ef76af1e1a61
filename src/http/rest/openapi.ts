import { MAX_CLOSE_REASON_LENGTH, MAX_JSON_DEPTH } from '../../sessions/limits.js';
import { INPUT_SCHEMAS } from '../../sessions/rules.js';
import { z } from '../../zod.js';
import { ROUTES, SESSION_PARAMETER } from './routes.js';

/** The OpenAPI 3.1 document of the REST routes, generated from their declarations and the core's schemas. */

/** JSON Schema for one of the core's input schemas (zod), with what JSON Schema cannot say spelt out. */
function inputSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = (ctx.zodSchema as { _zod: { def: { type: string } } })._zod.def;
      if (ctx.zodSchema === INPUT_SCHEMAS.jsonObject)
        Object.assign(ctx.jsonSchema, { type: 'object', description: `A JSON object, nested at most ${MAX_JSON_DEPTH} levels.` });
      else if (def.type === 'date') Object.assign(ctx.jsonSchema, { type: 'string', format: 'date-time' });
    },
  }) as Record<string, unknown>;
}

let document: Record<string, unknown> | undefined;

export function openApiDocument(): Record<string, unknown> {
  if (document) return document;
  const paths: Record<string, Record<string, unknown>> = {};
  const responseSchema = (schema: z.ZodType) => {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output' }) as Record<string, unknown>;
    delete json['$schema'];
    return json;
  };
  for (const route of ROUTES) {
    const pathParameters = [...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
      name,
      in: 'path',
      required: true,
      description: SESSION_PARAMETER,
      schema: { type: 'string' },
    }));
    const operation: Record<string, unknown> = {
      summary: route.summary,
      security: [{ bearer: [] }],
      parameters: [
        ...pathParameters,
        ...(route.query ?? []).map((q) => ({
          name: q.name,
          in: 'query',
          required: false,
          description: q.description,
          schema: { type: q.type },
        })),
        ...(route.conditional
          ? [
              {
                name: 'If-Match',
                in: 'header',
                required: false,
                description: 'Apply only if the session is still at this version (an ETag, like "3").',
                schema: { type: 'string' },
              },
            ]
          : []),
      ],
      ...(route.body && {
        requestBody: {
          required: !route.path.endsWith('/close'), // a bare close sends {} or nothing
          content: { 'application/json': { schema: (({ $schema: _drop, ...rest }) => rest)(inputSchema(route.body)) } },
        },
      }),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, r]) => [
          status,
          {
            description: r.description,
            ...(r.schema && { content: { 'application/json': { schema: responseSchema(r.schema) } } }),
          },
        ]),
      ),
      'x-body-limit-bytes': route.bodyLimit,
      'x-auth': route.auth === 'secret' ? 'secret key only' : 'secret key, or a public access token whose scopes cover the session',
    };
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }
  document = {
    openapi: '3.1.0',
    info: {
      title: 'sessions-gateway REST API',
      version: '1',
      description: `Trigger.dev's sessions routes, served from the same core as the GraphQL API. Close reasons are at most ${MAX_CLOSE_REASON_LENGTH} characters.`,
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A secret key (tr_dev_…, tr_prod_…) or a public access token.' },
      },
    },
    paths,
  };
  return document;
}
