import { dirname, join } from 'node:path';
import type { ApolloServerPlugin } from '@apollo/server';
import { renderPlaygroundPage } from '@apollographql/graphql-playground-html';
import express from 'express';

/** Where the conductor serves Playground's own scripts, so the page works with no internet. */
export const PLAYGROUND_ASSETS_PATH = '/playground';

/**
 * GraphQL Playground as Apollo 5's landing page. The official plugin declares Apollo 4 as its
 * peer; this is the same page from the same renderer, pointed at scripts the conductor serves
 * itself rather than a public CDN (air-gapped clusters, and these build machines).
 */
export function playgroundLandingPage(opts: { endpoint: string }): ApolloServerPlugin {
  return {
    async serverWillStart() {
      return {
        async renderLandingPage() {
          return {
            html: renderPlaygroundPage({
              endpoint: opts.endpoint,
              // Relative: Playground turns it into ws(s)://<the page's host>/graphql.
              subscriptionEndpoint: opts.endpoint,
              cdnUrl: PLAYGROUND_ASSETS_PATH,
              version: '',
              title: 'Maestro Conductor',
              settings: { 'request.credentials': 'same-origin', 'schema.polling.enable': false },
            }),
          };
        },
      };
    },
  };
}

/**
 * Where the renderer looks for the build: `<cdnUrl>/@apollographql/graphql-playground-react/build`
 * (Apollo's fork; its build is the same as graphql-playground-react's, which we ship).
 */
export const PLAYGROUND_BUILD_MOUNT = `${PLAYGROUND_ASSETS_PATH}/@apollographql/graphql-playground-react/build`;

/** Serves graphql-playground-react's build folder at PLAYGROUND_BUILD_MOUNT. */
export function playgroundAssets(): express.Handler {
  const root = dirname(require.resolve('graphql-playground-react/package.json'));
  return express.static(join(root, 'build'), { immutable: true, maxAge: '7d', index: false });
}
