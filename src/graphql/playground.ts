import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
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
            // The renderer links Google Fonts; the page falls back to system fonts without them,
            // so the link goes: the page asks nothing of any other host (air-gapped, and private).
            html: renderPlaygroundPage({
              endpoint: opts.endpoint,
              // Relative: Playground turns it into ws(s)://<the page's host>/graphql.
              subscriptionEndpoint: opts.endpoint,
              cdnUrl: PLAYGROUND_ASSETS_PATH,
              version: '',
              title: 'Maestro Conductor',
              settings: { 'request.credentials': 'same-origin', 'schema.polling.enable': false },
            }).replace(/<link[^>]*\bhref="https:\/\/fonts\.googleapis\.com\/[^>]*>/g, ''),
          };
        },
      };
    },
  };
}

/**
 * Where the renderer looks for the build: `<cdnUrl>/@apollographql/graphql-playground-react/build`
 * (Apollo's fork; its build is the same as graphql-playground-react's, whose files we vendor).
 */
export const PLAYGROUND_BUILD_MOUNT = `${PLAYGROUND_ASSETS_PATH}/@apollographql/graphql-playground-react/build`;

/**
 * vendor/playground: the four files of graphql-playground-react's build the page loads (2.4 MB),
 * copied by scripts/vendor-playground.sh with a SHA-256 manifest. Vendored rather than depended on:
 * the npm package brought ~600 packages (old express, ws, webpack tooling) into the production
 * tree for these files. Found from the source tree (src/graphql) and the build (dist/src/graphql).
 */
export function playgroundVendorDir(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'vendor', 'playground');
    if (existsSync(join(candidate, 'SHA256SUMS'))) return candidate;
    if (dirname(dir) === dir) {
      throw new Error(`vendor/playground not found above ${from}: copy the repository's vendor folder next to dist (see the Dockerfile)`);
    }
  }
}

/** Files of the manifest whose SHA-256 differs from it (or that are missing): empty when intact. */
export function verifyPlaygroundVendor(dir = playgroundVendorDir()): string[] {
  const bad: string[] = [];
  for (const line of readFileSync(join(dir, 'SHA256SUMS'), 'utf8').split('\n').filter(Boolean)) {
    const [sum, file] = line.split(/\s+\*?/, 2) as [string, string];
    const path = join(dir, file);
    if (!existsSync(path) || createHash('sha256').update(readFileSync(path)).digest('hex') !== sum) bad.push(file);
  }
  return bad;
}

/** Serves the vendored build folder at PLAYGROUND_BUILD_MOUNT. */
export function playgroundAssets(): express.Handler {
  return express.static(join(playgroundVendorDir(), 'build'), { immutable: true, maxAge: '7d', index: false });
}
