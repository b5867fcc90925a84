# syntax=docker/dockerfile:1
#
# milvus-rotator image: the compiled CLI on Node 24 LTS, production dependencies only, run as a
# numeric non-root user on a read-only root filesystem (writes go to /tmp, an emptyDir in k8s).
#
#   docker build -t milvus-rotator:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp -v "$PWD/rotator.yaml:/etc/milvus-rotator/rotator.yaml:ro" \
#     -e ROTATOR_CONFIG=/etc/milvus-rotator/rotator.yaml milvus-rotator:0.1.0 config check
#
# Every stage starts from the same exact Node version (bump all three together, and keep it equal
# to the `node` devDependency in package.json). The build context is limited by .dockerignore to
# package*.json, tsconfig*.json, src/ and jobs/: no tests, benchmarks, examples or sandbox data.
# No build argument or environment variable carries a secret, so no layer or history holds one.

# --- build: compile TypeScript to dist/ -------------------------------------------------------
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency would otherwise download a second Node binary that
# this stage does not use (tsc runs on the base image's node, called explicitly below).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ ./src/
COPY jobs/ ./jobs/
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && node dist/src/cli.js --help > /dev/null

# --- deps: production dependencies only, from the lockfile ------------------------------------
FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------------
FROM node:24.21.0-bookworm-slim AS runtime
# npm and corepack are not needed to run the CLI; removing them shrinks what an attacker could use.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
ENV NODE_ENV=production \
    HOME=/tmp \
    ROTATOR_CONFIG=/etc/milvus-rotator/rotator.yaml
WORKDIR /app
# Owned by root and not writable by the runtime user: the process cannot change its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["worker"]
