# syntax=docker/dockerfile:1
# Maestro Conductor. One image for the conductor (default command), its migrations
# (`node dist/src/cli/migrate.js`), API keys (`node dist/src/cli/apikey.js`) and remote workers
# (`node dist/src/worker-sdk/cli.js`). test/e2e/image.test.ts checks this file and runs its final
# stage's commands the way the image would (no Docker engine on CI).
# The current Node.js LTS line; package.json's engines is the supported range, and .ci/run runs the
# suite on this major as well (test/helpers/ensure-node.sh reads it from here).
ARG NODE_IMAGE=node:26-bookworm-slim

# Build with dev dependencies (TypeScript), then drop them.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
# The web console's source: `npm run build` bundles it into dist/ui, served at /ui.
COPY ui ./ui
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run with production dependencies only.
FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000 METRICS_PORT=9464
WORKDIR /app
# Owned by root and read-only to the runtime user: the process cannot rewrite its own code, and
# it writes nothing under /app (production runs on Postgres; Kubernetes mounts /tmp).
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# GraphQL Playground's files (checksummed; served only where Playground is enabled).
COPY vendor ./vendor
COPY package.json ./
# `npx maestro` (package.json "bin"): runs dist/src/cli/maestro/main.js here.
COPY bin ./bin
# The official image's "node" user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# 4000: the API (/graphql, /healthz, /readyz); 9464: /metrics, for Prometheus only.
EXPOSE 4000 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini as PID 1 forwards SIGTERM to node (which drains within SHUTDOWN_GRACE_MS) and reaps zombies.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/server.js"]
