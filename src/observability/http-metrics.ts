import type { ApolloServerPlugin } from '@apollo/server';
import type { Handler } from 'express';
import { boundedOperationName, type Metrics } from './metrics';

// /metrics is not on the API port (it has a listener of its own): a request for it here is "other".
const KNOWN_ROUTES = new Set(['/graphql', '/healthz', '/readyz']);

/** The route label: a fixed set, so a scanner hitting random paths cannot grow the series. */
function routeOf(path: string): string {
  if (KNOWN_ROUTES.has(path)) return path;
  if (path.startsWith('/playground/')) return '/playground';
  // Tenant and event names are in the path: one label for every webhook.
  if (path.startsWith('/hooks/')) return '/hooks';
  return 'other';
}

export function httpMetrics(metrics: Metrics): Handler {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.once('finish', () => {
      // originalUrl: a mounted router rewrites req.path to its own root.
      const path = (req.originalUrl ?? req.url).split('?')[0] ?? '';
      const labels = { method: req.method, route: routeOf(path), status_code: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      end(labels);
    });
    next();
  };
}

/** GraphQL operations by name, type and outcome; named for when it fires (willSendResponse). */
export function graphqlMetricsPlugin(metrics: Metrics): ApolloServerPlugin {
  const seen = new Set<string>();
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, operationName, errors, response }) {
          const failed = Boolean(errors?.length) || (response.body.kind === 'single' && Boolean(response.body.singleResult.errors?.length));
          metrics.graphqlOperations.inc({
            operation: boundedOperationName(seen, operationName),
            type: operation?.operation ?? 'unknown',
            outcome: failed ? 'error' : 'ok',
          });
        },
      };
    },
  };
}
