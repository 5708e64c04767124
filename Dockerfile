# Multi-stage build: compile TypeScript, then ship only the runtime pieces.
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

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY examples ./examples
USER node
EXPOSE 15010 15014
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve", "--config-dir", "examples"]
