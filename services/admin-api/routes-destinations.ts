import type { FastifyInstance } from 'fastify';
import type { Destination, DestinationInput } from '../dispatcher/destination';
import type { ReplayResult } from '../dispatcher/replay';
import type { TestEventResult } from '../dispatcher/test-event';
import type { RouteContext } from './app';
import { AdminErrorCode, adminError } from './errors';
import { idempotencyHeaders, idParams, iso } from './http-schemas';
import { idempotentRequestOf } from './idempotency';

/**
 * Webhook destinations through the dispatcher's DestinationManager (the same module its CLI
 * uses). A destination always belongs to the caller's workspace. Its signing secret is in the
 * response of the creation and of a rotation, and nowhere else; custom header values (often
 * credentials for the receiver) are never shown back.
 */
export function registerDestinationRoutes(app: FastifyInstance, context: RouteContext): void {
  const { destinations, deliveries } = context;

  async function owned(id: string, workspaceId: string): Promise<Destination> {
    const destination = await destinations.get(id).catch((err: unknown) => {
      throw isNotFound(err) ? adminError(AdminErrorCode.notFound, 'not found') : err;
    });
    if (destination.workspaceId !== workspaceId)
      throw adminError(AdminErrorCode.notFound, 'not found');
    return destination;
  }

  app.post<{ Body: DestinationBody }>(
    '/destinations',
    {
      schema: {
        summary: 'Create a destination (its secret is shown once, here)',
        tags: ['destinations'],
        headers: idempotencyHeaders,
        body: destinationBody,
      },
    },
    async (request, reply) => {
      const { workspaceId } = request;
      const result = await context.idempotency.inMemory(
        workspaceId,
        'destination',
        idempotentRequestOf(request),
        async () => {
          const created = await destinations.create({
            ...request.body,
            workspaceId,
          } as DestinationInput);
          return renderDestination(created, { withSecret: true });
        },
      );
      return reply
        .code(201)
        .header('idempotent-replayed', String(result.replayed))
        .send(result.value);
    },
  );

  app.get(
    '/destinations',
    { schema: { summary: 'List destinations (no secrets)', tags: ['destinations'] } },
    async (request) => ({
      destinations: (await destinations.list())
        .filter((destination) => destination.workspaceId === request.workspaceId)
        .map((destination) => renderDestination(destination)),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/destinations/:id',
    {
      schema: {
        summary: 'Get a destination (no secrets)',
        tags: ['destinations'],
        params: idParams,
      },
    },
    async (request) => renderDestination(await owned(request.params.id, request.workspaceId)),
  );

  app.patch<{ Params: { id: string }; Body: Partial<DestinationBody> }>(
    '/destinations/:id',
    {
      schema: {
        summary: 'Update a destination',
        tags: ['destinations'],
        params: idParams,
        body: { ...destinationBody, required: [], minProperties: 1 },
      },
    },
    async (request) => {
      await owned(request.params.id, request.workspaceId);
      return renderDestination(await destinations.update(request.params.id, request.body));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/destinations/:id/rotate-secret',
    {
      schema: {
        summary: 'Rotate the signing secret (the new one is shown once, here)',
        tags: ['destinations'],
        params: idParams,
      },
    },
    async (request) => {
      await owned(request.params.id, request.workspaceId);
      const rotated = await destinations.rotateSecret(request.params.id, {
        overlapMs: context.config.secretOverlapMs,
      });
      return renderDestination(rotated, { withSecret: true });
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } }>(
    '/destinations/:id/disable',
    {
      schema: {
        summary: 'Disable a destination',
        tags: ['destinations'],
        params: idParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { reason: { type: 'string', maxLength: 500 } },
        },
      },
    },
    async (request) => {
      await owned(request.params.id, request.workspaceId);
      const reason = request.body?.reason ?? 'disabled through the admin API';
      return renderDestination(await destinations.disable(request.params.id, reason));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/destinations/:id/enable',
    { schema: { summary: 'Enable a destination', tags: ['destinations'], params: idParams } },
    async (request) => {
      await owned(request.params.id, request.workspaceId);
      return renderDestination(await destinations.enable(request.params.id));
    },
  );

  app.post<{ Params: { id: string }; Body: ReplayBody }>(
    '/destinations/:id/replay',
    {
      schema: {
        summary:
          'Re-deliver events.v1 since a time ({"since": date-time}), or what went dead ({"from": "dead"})',
        tags: ['destinations'],
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', format: 'date-time' },
            from: { type: 'string', enum: ['dead'] },
          },
        },
      },
    },
    async (request, reply) => {
      const { since, from } = request.body ?? {};
      // Exactly one of the two, checked here so the 400 names the field.
      if ((since === undefined) === (from === undefined)) {
        throw adminError(AdminErrorCode.invalidRequest, 'give either since or from: "dead"', {
          context: { field: since === undefined ? 'body.since' : 'body.from' },
        });
      }
      const destination = await owned(request.params.id, request.workspaceId);
      const sinceMs = since === undefined ? null : Date.parse(since);
      const result =
        sinceMs === null
          ? await deliveries.replayDead(destination)
          : await deliveries.replaySince(destination, sinceMs);
      context.logger.info(
        { destinationId: destination.id, from: from ?? 'events', sinceMs, ...result },
        'replay queued',
      );
      return reply.code(202).send({
        destinationId: destination.id,
        from: from ?? 'events',
        since: iso(sinceMs),
        scanned: result.scanned,
        enqueued: result.enqueued,
      });
    },
  );

  app.post<{ Params: { id: string } }>(
    '/destinations/:id/test',
    {
      schema: {
        summary: 'Send a signed webhook.test event to the destination now and report its answer',
        tags: ['destinations'],
        params: idParams,
      },
    },
    async (request) => {
      const destination = await owned(request.params.id, request.workspaceId);
      const result = await deliveries.sendTest(destination);
      return {
        destinationId: destination.id,
        webhookId: result.webhookId,
        eventType: result.eventType,
        delivered: result.delivered,
        statusCode: result.statusCode,
        durationMs: result.durationMs,
        errorKind: result.errorKind,
        detail: result.detail,
        sentAt: iso(result.at),
      };
    },
  );
}

/**
 * What the replay and test routes need from the dispatcher's modules (replay.ts and
 * test-event.ts), bound to the API's Kafka clients in admin-api.ts.
 */
export interface DestinationDeliveries {
  replaySince(destination: Destination, sinceMs: number): Promise<ReplayResult>;
  replayDead(destination: Destination): Promise<ReplayResult>;
  sendTest(destination: Destination): Promise<TestEventResult>;
}

interface ReplayBody {
  since?: string;
  from?: 'dead';
}

type DestinationBody = Omit<DestinationInput, 'workspaceId'>;

const destinationBody = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: { type: 'string', minLength: 1, maxLength: 2048 },
    description: { type: ['string', 'null'], maxLength: 500 },
    eventTypes: {
      type: 'array',
      maxItems: 16,
      items: { type: 'string', pattern: '^[a-z]+\\.[a-z_]+$' },
    },
    deviceTypes: {
      type: 'array',
      maxItems: 32,
      items: { type: 'string', minLength: 1, maxLength: 64 },
    },
    headers: {
      type: 'object',
      maxProperties: 32,
      additionalProperties: { type: 'string', maxLength: 4096 },
    },
    rateLimitPerSecond: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 100000 },
    timeoutMs: { type: 'integer', minimum: 100, maximum: 60000 },
  },
} as const;

function renderDestination(destination: Destination, options: { withSecret?: boolean } = {}) {
  const rendered = {
    id: destination.id,
    url: destination.url,
    description: destination.description,
    eventTypes: destination.eventTypes,
    deviceTypes: destination.deviceTypes,
    headerNames: Object.keys(destination.headers),
    enabled: destination.enabled,
    disabledReason: destination.disabledReason,
    disabledAt: iso(destination.disabledAt),
    rateLimitPerSecond: destination.rateLimitPerSecond,
    timeoutMs: destination.timeoutMs,
    createdAt: iso(destination.createdAt),
    updatedAt: iso(destination.updatedAt),
  };
  // The newest secret is first (destination.avsc).
  return options.withSecret
    ? { ...rendered, secret: destination.secrets[0]?.secret ?? null }
    : rendered;
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'GP_DISPATCH_DESTINATION_NOT_FOUND';
}
