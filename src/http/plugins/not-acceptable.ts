import type { Plugin } from 'graphql-yoga';

/** The one line a 406 carries: yoga's own has no body. */
export const NOT_ACCEPTABLE = {
  graphiqlOff:
    'GraphiQL is off here: NODE_ENV=production turns it off, GRAPHIQL=1 serves it anyway. The API itself answers POST with application/json, or GET with ?query=…',
  nothingFits:
    'Nothing in Accept fits: /graphql answers application/json or application/graphql-response+json, and text/event-stream for a subscription',
};

/** A 406 says why in one line: GraphiQL asked for while it is off, or an Accept that allows nothing served. */
export function useNotAcceptableExplained(graphiql: boolean): Plugin {
  const explain = (fetchAPI: { Response: typeof Response }, line: string, headers: Record<string, string> = {}) =>
    new fetchAPI.Response(`${line}\n`, { status: 406, headers: { ...headers, 'content-type': 'text/plain; charset=utf-8' } });
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      // A browser opening /graphql asks for the page (text/html), not for an operation.
      const page =
        request.method === 'GET' && !url.searchParams.has('query') && /\btext\/html\b/i.test(request.headers.get('accept') ?? '');
      if (page && !graphiql) endResponse(explain(fetchAPI, NOT_ACCEPTABLE.graphiqlOff));
    },
    onResponse({ response, setResponse, fetchAPI }) {
      if (response.status === 406 && !response.headers.get('content-type')) {
        setResponse(explain(fetchAPI, NOT_ACCEPTABLE.nothingFits, { accept: response.headers.get('accept') ?? '' }));
      }
    },
  };
}
