# Homeroom production image: Node 24, production dependencies only, non-root, data in /data.
# The Node version here is the `node` devDependency's (package.json); scripts/docker-check.ts
# fails when they differ. See docs/deploy.md.

# --- build: production node_modules, with what better-sqlite3's install step needs ---
# better-sqlite3 runs `node-gyp rebuild` on install. With a prebuilt binary for the platform it
# compiles nothing, but gyp still needs Python and make; without one it compiles SQLite (g++).
FROM node:24.9.0-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp compiles against the headers the image ships in /usr/local/include/node
# instead of downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Fail the build here, not at start-up, when the native addon does not load.
RUN node -e "const D=require('better-sqlite3');const db=new D(':memory:');if(db.prepare('select 1 as x').get().x!==1)process.exit(1)"

# --- runtime: no compiler, no npm cache; code owned by root, only /data writable ---
FROM node:24.9.0-bookworm-slim
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8400 \
    HOST=0.0.0.0 \
    PLAYGROUND=0
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY server ./server
COPY extensions ./extensions
COPY docs-model ./docs-model
COPY scripts ./scripts
RUN mkdir -p /data && chown node:node /data && chmod 0750 /data
USER node
VOLUME ["/data"]
EXPOSE 8400
# Healthy means ready: GET /readyz answers 200 (the store is reachable and writable, and Redis
# when configured); it answers 503 otherwise.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8400)+'/readyz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]
CMD ["node", "scripts/homeroom.ts", "serve"]
