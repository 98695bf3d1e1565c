# Rampart container image: compiled JavaScript on Node.js 24 LTS (slim), running as the unprivileged `node` user.
#   docker build -t rampart .
#   docker run -p 443:8443 -p 80:8080 -v /etc/rampart:/etc/rampart:ro rampart
# /etc/rampart holds rampart.yaml and the certificates it names (paths in the file are relative to it).

FROM node:24-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /build/dist/src ./dist/src
USER node
VOLUME ["/etc/rampart"]
EXPOSE 8443 8080
# Liveness: the admin listener's /healthz (127.0.0.1:9901 inside the container, open without the token).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('node:http').get('http://127.0.0.1:9901/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/src/bin.js"]
CMD ["start", "--config", "/etc/rampart/rampart.yaml"]
