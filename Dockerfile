# syntax=docker/dockerfile:1
# One image for both processes: the API (default CMD) and the workers (docker-compose.yml's worker
# command). Each runs from its bundle in dist/ (scripts/build.mjs), built here, so that the main
# process of a container is node itself: SIGTERM reaches it and it stops gracefully, where npm and
# its shell would exit at once and leave node to be killed mid-task.
FROM node:24-slim

ENV NODE_ENV=production
WORKDIR /app

# Manifests first, so the dependency layer is rebuilt only when they change. npm ci needs every
# workspace's package.json to match the lockfile; tests/docker-compose.test.ts checks this list.
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY packages/auth/package.json packages/auth/
COPY packages/batching/package.json packages/batching/
COPY packages/billing/package.json packages/billing/
COPY packages/callbacks/package.json packages/callbacks/
COPY packages/client/package.json packages/client/
COPY packages/config/package.json packages/config/
COPY packages/contract/package.json packages/contract/
COPY packages/db/package.json packages/db/
COPY packages/errors/package.json packages/errors/
COPY packages/ledger/package.json packages/ledger/
COPY packages/metrics/package.json packages/metrics/
COPY packages/providers/package.json packages/providers/
COPY packages/queue/package.json packages/queue/
COPY packages/reports/package.json packages/reports/
COPY packages/task-events/package.json packages/task-events/
COPY packages/tasks/package.json packages/tasks/
COPY packages/testing/package.json packages/testing/
# Fixes to dependencies, applied by npm ci's postinstall (patch-package); see patches/README.md.
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Sources, including packages/db/migrations (both processes migrate at start under an advisory lock).
COPY tsconfig.json ./
COPY scripts ./scripts
COPY apps ./apps
COPY packages ./packages
RUN npm run build

# Files stay owned by root, so the app cannot rewrite its own code.
USER node

EXPOSE 5000
# node, the API's flags from scripts/node-flags.json, its bundle (tests/docker-compose.test.ts
# checks that they agree; tests/e2e/image-command.test.ts runs this very command).
CMD ["node", "--max-semi-space-size=32", "dist/api/main.mjs"]
