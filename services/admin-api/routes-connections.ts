import type { FastifyInstance } from 'fastify';
import type { Customer, Site } from '../common/device-state';
import { connectionFromFlags } from '../poller/connection-registration';
import { OEMS } from '../poller/config';
import type { Connection, Credentials } from '../poller/connection';
import type { RouteContext } from './app';
import { AdminErrorCode, adminError } from './errors';
import { idempotencyHeaders, idParams } from './http-schemas';
import { idempotentRequestOf } from './idempotency';
import {
  connectionWrite,
  encryptedConnectionRecord,
  readConnectionRecord,
  renderConnection,
} from './connection-adapter';
import { isOwned } from './routes-platform';

/**
 * OEM connections, built with the poller's own registration code (the CLI's `connections
 * add`), stored encrypted on connections.v1. Credentials go in and never come out.
 */
export function registerConnectionRoutes(app: FastifyInstance, context: RouteContext): void {
  const { view, writer, topics } = context;
  const key = context.config.credentialsKey;
  const topic = topics['connections.v1'];

  async function save(connection: Connection): Promise<Connection> {
    const record = encryptedConnectionRecord(connection, key);
    await writer.write([connectionWrite(record, topic)]);
    view.putConnection(record);
    return connection;
  }

  function load(id: string, workspaceId: string): Connection {
    const record = view.connections.get(id);
    if (!isOwned(record, workspaceId)) throw adminError(AdminErrorCode.notFound, 'not found');
    return readConnectionRecord(record, key);
  }

  function change(id: string, workspaceId: string, apply: (current: Connection) => Connection) {
    return context.withLock(`connection:${id}`, async () => {
      const current = load(id, workspaceId);
      return renderConnection(await save({ ...apply(current), updatedAt: context.now() }));
    });
  }

  app.post<{ Body: ConnectionBody }>(
    '/connections',
    {
      schema: {
        summary: 'Register an OEM connection',
        tags: ['connections'],
        headers: idempotencyHeaders,
        body: connectionBody,
      },
    },
    async (request, reply) => {
      const { workspaceId, body } = request;
      const result = await context.idempotency.inMemory(
        workspaceId,
        'connection',
        idempotentRequestOf(request),
        async () => {
          if (body.id !== undefined && view.connections.has(body.id)) {
            throw adminError(AdminErrorCode.conflict, 'connection id already taken', {
              context: { field: 'body.id' },
            });
          }
          const organizationId =
            body.organizationId ?? context.config.organizations.get(workspaceId) ?? workspaceId;
          const built = connectionFromFlags(
            {
              oem: body.oem,
              id: body.id,
              workspace: workspaceId,
              organization: organizationId,
              customer: body.customerId,
              site: body.siteId,
              disabled: body.enabled === false,
              ...body.credentials,
            },
            context.now(),
          );
          const connection = {
            ...built,
            customer: customerOf(context, workspaceId, built.customer),
            site: siteOf(context, workspaceId, built.site),
          };
          return renderConnection(await save(connection));
        },
      );
      return reply
        .code(201)
        .header('idempotent-replayed', String(result.replayed))
        .send(result.value);
    },
  );

  app.get(
    '/connections',
    { schema: { summary: 'List connections (no secrets)', tags: ['connections'] } },
    async (request) => ({
      connections: [...view.connections.values()]
        .filter((record) => record.workspaceId === request.workspaceId)
        .sort((a, b) => a.createdAt - b.createdAt)
        .map((record) => renderConnection(readConnectionRecord(record, key))),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/connections/:id',
    {
      schema: { summary: 'Get a connection (no secrets)', tags: ['connections'], params: idParams },
    },
    async (request) => renderConnection(load(request.params.id, request.workspaceId)),
  );

  app.patch<{ Params: { id: string }; Body: ConnectionPatch }>(
    '/connections/:id',
    {
      schema: {
        summary: 'Update a connection',
        tags: ['connections'],
        params: idParams,
        body: connectionPatch,
      },
    },
    async (request) => {
      const { workspaceId, body } = request;
      return change(request.params.id, workspaceId, (current) => ({
        ...current,
        enabled: body.enabled ?? current.enabled,
        organizationId: body.organizationId ?? current.organizationId,
        customer: body.customerId
          ? customerOf(context, workspaceId, { ...current.customer, id: body.customerId })
          : current.customer,
        site: body.siteId
          ? siteOf(context, workspaceId, { ...current.site, id: body.siteId })
          : current.site,
      }));
    },
  );

  app.post<{ Params: { id: string }; Body: { credentials: Credentials } }>(
    '/connections/:id/credentials',
    {
      schema: {
        summary: 'Replace the connection’s credentials (rotate its secrets)',
        tags: ['connections'],
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['credentials'],
          properties: { credentials: credentialsSchema },
        },
      },
    },
    async (request) => {
      const { credentials } = request.body;
      if (!credentials.refreshToken && !credentials.accessToken) {
        throw adminError(AdminErrorCode.invalidRequest, 'need a refresh or access token', {
          context: { field: 'body.credentials.refreshToken' },
        });
      }
      return change(request.params.id, request.workspaceId, (current) => ({
        ...current,
        credentials: { ...credentials },
      }));
    },
  );

  for (const [action, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    app.post<{ Params: { id: string } }>(
      `/connections/:id/${action}`,
      {
        schema: {
          summary: `${action === 'disable' ? 'Stop' : 'Resume'} polling a connection`,
          tags: ['connections'],
          params: idParams,
        },
      },
      async (request) =>
        change(request.params.id, request.workspaceId, (current) => ({ ...current, enabled })),
    );
  }
}

/** The customer as the platform knows it, when the id names one of the workspace's. */
function customerOf(context: RouteContext, workspaceId: string, fallback: Customer): Customer {
  const customer = context.view.customers.get(fallback.id);
  if (!isOwned(customer, workspaceId)) return fallback;
  const { id, referenceId, email, firstName, lastName, phone } = customer;
  return { id, referenceId, email, firstName, lastName, phone };
}

function siteOf(context: RouteContext, workspaceId: string, fallback: Site): Site {
  const site = context.view.sites.get(fallback.id);
  if (!isOwned(site, workspaceId)) return fallback;
  return {
    id: site.id,
    name: site.siteName,
    address: site.address,
    longitude: site.longitude,
    latitude: site.latitude,
  };
}

interface ConnectionBody {
  oem: (typeof OEMS)[number];
  id?: string;
  organizationId?: string;
  customerId: string;
  siteId: string;
  enabled?: boolean;
  credentials: Omit<Credentials, 'accessTokenExpiresAt'>;
}

interface ConnectionPatch {
  enabled?: boolean;
  organizationId?: string;
  customerId?: string;
  siteId?: string;
}

const secret = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const credentialsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    clientId: secret,
    clientSecret: secret,
    apiKey: secret,
    accessToken: secret,
    refreshToken: secret,
  },
} as const;
const idString = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9_.:-]+$',
} as const;

const connectionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['oem', 'customerId', 'siteId', 'credentials'],
  properties: {
    oem: { type: 'string', enum: [...OEMS] },
    id: idString,
    organizationId: idString,
    customerId: idString,
    siteId: idString,
    enabled: { type: 'boolean' },
    credentials: credentialsSchema,
  },
} as const;

const connectionPatch = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    enabled: { type: 'boolean' },
    organizationId: idString,
    customerId: idString,
    siteId: idString,
  },
} as const;
