import type { RequestHandler } from 'express';

/**
 * A browser opening the GraphQL path where Playground is off (production by default) would get
 * Apollo's CSRF refusal as JSON, which reads like a fault. It gets this page instead: what the
 * endpoint is and how to query it. Static text: nothing from the request is echoed.
 */
const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Maestro Conductor: GraphQL API</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; line-height: 1.5">
<h1>Maestro Conductor</h1>
<p>This is the GraphQL API. GraphQL Playground is off here: it is served outside production, or
with <code>PLAYGROUND_ENABLED=true</code>.</p>
<p>Query it with a POST of JSON and an API key, for example:</p>
<pre style="background: #f4f4f4; padding: 1rem; overflow-x: auto">curl -s https://&lt;this host&gt;/graphql \\
  -H 'content-type: application/json' \\
  -H 'authorization: Bearer &lt;API key&gt;' \\
  -d '{"query":"{ runs(first: 5) { totalCount nodes { id status } } }"}'</pre>
<p>Subscriptions use the <code>graphql-transport-ws</code> protocol on the same path, with
<code>{ "authorization": "Bearer &lt;API key&gt;" }</code> as the <code>connection_init</code> payload.
The schema is <code>schema.graphql</code> in the repository.</p>
</body>
</html>
`;

/** GET requests that prefer HTML (a browser's address bar) get the page; API clients pass through. */
export function playgroundOffPage(): RequestHandler {
  return (req, res, next) => {
    if (req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) !== 'text/html') return next();
    res.status(200).type('html').set('cache-control', 'no-store').send(PAGE);
  };
}
