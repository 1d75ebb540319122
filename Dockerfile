# Homeroom production image: Node 24, production dependencies only, non-root, data in /data.
FROM node:24-slim
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8400 \
    HOST=0.0.0.0 \
    PLAYGROUND=0
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY server ./server
COPY extensions ./extensions
COPY docs-model ./docs-model
COPY scripts ./scripts
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8400
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8400)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "scripts/homeroom.ts", "serve"]
