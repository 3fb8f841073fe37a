import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../common/logger';
import type { Topics } from '../common/topics';
import type { DestinationManager } from '../dispatcher/destinations';
import { authenticate } from './auth';
import type { AdminApiConfig } from './config';
import { AdminErrorCode } from './errors';
import {
  answerClientError,
  createErrorHandler,
  createFrameworkErrorHandler,
  send,
} from './http-errors';
import { MAX_ID_LENGTH } from './http-schemas';
import { createIdempotency, createKeyedLock, type Idempotency } from './idempotency';
import type { AdminApiMetrics } from './metrics';
import { createOpenApiCollector } from './openapi';
import type { PlatformView } from './platform-view';
import { registerCommandRoutes } from './routes-commands';
import { registerConnectionRoutes } from './routes-connections';
import { registerDestinationRoutes, type DestinationDeliveries } from './routes-destinations';
import { registerPlatformRoutes } from './routes-platform';
import type { TransactionalWriter } from './transactional-writer';

declare module 'fastify' {
  interface FastifyRequest {
    /** The workspace the request's API key is scoped to; set by the auth hook. */
    workspaceId: string;
  }
  /** OpenAPI-only members (openapi.ts reads them; validation ignores them). */
  interface FastifySchema {
    summary?: string;
    tags?: string[];
    hide?: boolean;
  }
}

export interface AdminApiOptions {
  config: Pick<
    AdminApiConfig,
    'apiKeys' | 'organizations' | 'bodyLimitBytes' | 'credentialsKey' | 'secretOverlapMs'
  >;
  topics: Topics;
  view: PlatformView;
  writer: TransactionalWriter;
  destinations: DestinationManager;
  /** Replay and test events for the destination routes. */
  deliveries: DestinationDeliveries;
  logger: Logger;
  metrics: AdminApiMetrics;
  /** False until the view has caught up: requests get 503 meanwhile. */
  isReady: () => boolean;
  now?: () => number;
}

/** What the route modules share. */
export interface RouteContext extends Omit<AdminApiOptions, 'now' | 'isReady'> {
  now: () => number;
  idempotency: Idempotency;
  withLock: ReturnType<typeof createKeyedLock>;
}

/**
 * The admin API as a fastify instance (not listening: `startAdminApi` listens, tests may use
 * `inject`). Every route needs `Authorization: Bearer <key>`; every body is validated against
 * its JSON schema with unknown members rejected, so a 400 is answered before anything is
 * written.
 */
export function createAdminApi(options: AdminApiOptions): FastifyInstance {
  const logger = options.logger.child({ component: 'http' });
  const app = Fastify({
    // Our own request log lines below list their fields; fastify's would include the URL and
    // headers of every request.
    logger: false,
    bodyLimit: options.config.bodyLimitBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // No id is longer; a longer path parameter is refused by the router, before validation.
    routerOptions: { maxParamLength: MAX_ID_LENGTH },
    // fastify answers these two kinds itself, in its own shape and echoing the whole path.
    frameworkErrors: createFrameworkErrorHandler(logger),
    clientErrorHandler: answerClientError,
    ajv: {
      // Unknown members are refused (not silently dropped) and types are never coerced.
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: true,
        allErrors: false,
      },
    },
  });
  const openApi = createOpenApiCollector();
  app.addHook('onRoute', openApi.onRoute);
  app.decorateRequest('workspaceId', '');
  app.setErrorHandler(createErrorHandler(logger));
  // fastify parses text/plain bodies by default: JSON is the only body this API takes (415).
  app.removeContentTypeParser('text/plain');
  acceptEmptyJsonOnBodilessMethods(app);
  app.setNotFoundHandler((_request, reply) => {
    send(reply, 404, AdminErrorCode.notFound, 'no such route');
  });

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const workspaceId = authenticate(request.headers.authorization, options.config.apiKeys);
    if (workspaceId === null) {
      options.metrics.authFailures.inc();
      return send(reply, 401, AdminErrorCode.unauthorized, 'unauthorized');
    }
    request.workspaceId = workspaceId;
    if (!options.isReady()) {
      return send(reply, 503, AdminErrorCode.notReady, 'starting: view not loaded yet');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const durationMs = reply.elapsedTime;
    options.metrics.requests.inc({
      method: request.method,
      route,
      status: `${Math.floor(reply.statusCode / 100)}xx`,
    });
    options.metrics.requestDuration.observe({ method: request.method, route }, durationMs / 1000);
    logger.debug(
      {
        method: request.method,
        route,
        status: reply.statusCode,
        durationMs: Math.round(durationMs),
      },
      'request answered',
    );
  });

  const context: RouteContext = {
    config: options.config,
    topics: options.topics,
    view: options.view,
    writer: options.writer,
    destinations: options.destinations,
    deliveries: options.deliveries,
    logger,
    metrics: options.metrics,
    now: options.now ?? Date.now,
    idempotency: createIdempotency(options.view),
    withLock: createKeyedLock(),
  };
  registerPlatformRoutes(app, context);
  registerCommandRoutes(app, context);
  registerConnectionRoutes(app, context);
  registerDestinationRoutes(app, context);

  app.get('/openapi.json', { schema: { hide: true } }, async () =>
    openApi.document({ title: 'gridpulse admin API', version: '1.0.0' }),
  );
  return app;
}

/**
 * Clients often send `content-type: application/json` on every request, a DELETE or GET
 * without a body included; fastify's JSON parser refuses the empty body (400), so such a
 * request never reached its route or the 404. An empty body is no body on these methods;
 * anything else still goes through fastify's parser, with its poisoning checks.
 */
function acceptEmptyJsonOnBodilessMethods(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' && BODILESS_METHODS.has(request.method)) {
      done(null, undefined);
      return;
    }
    parseJson(request, body.toString(), done);
  });
}

const BODILESS_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS']);
