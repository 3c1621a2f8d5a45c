# webim in a container: node:20-slim, built here, run as the image's unprivileged `node` user.
# Not tested in this repository's CI (it has no container engine); see docs/deploy.md, "Docker".
#   docker build -t webim .
#   docker run -d -p 8080:8080 -v webim-data:/data webim
FROM node:20-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary can be downloaded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY . .
# npm ci runs `prepare`, which builds the TypeScript; then the dev dependencies go.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-slim
ENV NODE_ENV=production \
    WEBIM_HOST=0.0.0.0 \
    WEBIM_PORT=8080 \
    WEBIM_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/transports ./dist/transports
COPY --from=build /app/dist/bin ./dist/bin
COPY --from=build /app/public ./public
COPY --from=build /app/polyfills ./polyfills
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
VOLUME /data
# SIGTERM: every client gets `bye` with reconnect: true and history is flushed before the process exits.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "dist/bin/webim.js", "start"]
