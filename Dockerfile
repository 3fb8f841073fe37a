# One image for every gridpulse service; the container's command picks the service:
#   docker run gridpulse services/poller/main.ts
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY schemas ./schemas
COPY services ./services
COPY bin ./bin
USER node
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["services/cli/main.ts", "--help"]
