import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './app';
import { AdminErrorCode, adminError } from './errors';
import { customerCreatedEvent, enrollmentApprovedEvent, siteCreatedEvent } from './event-payloads';
import { addressSchema, idempotencyHeaders, idParams, iso, nullableString } from './http-schemas';
import { idempotentRequestOf } from './idempotency';
import {
  CUSTOMER_SCHEMA,
  ENROLLMENT_SCHEMA,
  SITE_SCHEMA,
  type CustomerRecord,
  type EnrollmentRecord,
  type SiteRecord,
} from './records';

/** Customers, sites and enrollments: records on compacted topics plus their events. */
export function registerPlatformRoutes(app: FastifyInstance, context: RouteContext): void {
  const { view, writer, topics, idempotency, metrics } = context;

  app.post<{ Body: CustomerBody }>(
    '/customers',
    {
      schema: {
        summary: 'Create a customer (emits customer.created)',
        tags: ['customers'],
        headers: idempotencyHeaders,
        body: customerBody,
      },
    },
    async (request, reply) => {
      const { workspaceId } = request;
      const organizationId =
        request.body.organizationId ?? context.config.organizations.get(workspaceId);
      if (!organizationId) {
        throw adminError(
          AdminErrorCode.invalidRequest,
          'organizationId is required for this workspace',
          {
            context: { field: 'body.organizationId' },
          },
        );
      }
      const result = await idempotency.persisted(
        workspaceId,
        'customer',
        idempotentRequestOf(request),
        (id) => renderOwned(view.customers.get(id), workspaceId, renderCustomer),
        async (stamp) => {
          const at = context.now();
          const customer: CustomerRecord = {
            id: newId('cus'),
            workspaceId,
            organizationId,
            referenceId: request.body.referenceId ?? null,
            email: request.body.email ?? null,
            firstName: request.body.firstName ?? null,
            lastName: request.body.lastName ?? null,
            phone: request.body.phone ?? null,
            createdAt: at,
            updatedAt: at,
            ...stamp,
          };
          const event = customerCreatedEvent(customer);
          await writer.write([
            {
              topic: topics['customers.v1'],
              schema: CUSTOMER_SCHEMA,
              key: customer.id,
              value: customer,
            },
            { topic: topics['events.v1'], schema: 'event', key: customer.id, value: event },
          ]);
          view.putCustomer(customer);
          metrics.eventsEmitted.inc({ type: event.type });
          return renderCustomer(customer);
        },
      );
      return reply
        .code(201)
        .header('idempotent-replayed', String(result.replayed))
        .send(result.value);
    },
  );

  app.get(
    '/customers',
    { schema: { summary: 'List customers', tags: ['customers'] } },
    async (request) => ({
      customers: ownedBy(view.customers, request.workspaceId).map(renderCustomer),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/customers/:id',
    { schema: { summary: 'Get a customer', tags: ['customers'], params: idParams } },
    async (request) =>
      renderCustomer(requireOwned(view.customers.get(request.params.id), request.workspaceId)),
  );

  app.post<{ Body: SiteBody }>(
    '/sites',
    {
      schema: {
        summary: 'Create a site (emits site.created)',
        tags: ['sites'],
        headers: idempotencyHeaders,
        body: siteBody,
      },
    },
    async (request, reply) => {
      const { workspaceId, body } = request;
      if (
        body.customerId !== undefined &&
        !isOwned(view.customers.get(body.customerId), workspaceId)
      ) {
        throw adminError(AdminErrorCode.invalidRequest, 'no such customer', {
          context: { field: 'body.customerId' },
        });
      }
      const result = await idempotency.persisted(
        workspaceId,
        'site',
        idempotentRequestOf(request),
        (id) => renderOwned(view.sites.get(id), workspaceId, renderSite),
        async (stamp) => {
          const at = context.now();
          const site: SiteRecord = {
            id: newId('sit'),
            workspaceId,
            customerId: body.customerId ?? null,
            referenceId: body.referenceId ?? null,
            siteName: body.siteName,
            address: body.address
              ? {
                  streetAddress1: body.address.streetAddress1 ?? null,
                  streetAddress2: body.address.streetAddress2 ?? null,
                  city: body.address.city ?? null,
                  state: body.address.state ?? null,
                  postalCode: body.address.postalCode ?? null,
                  country: body.address.country ?? null,
                }
              : null,
            longitude: body.longitude ?? null,
            latitude: body.latitude ?? null,
            createdAt: at,
            updatedAt: at,
            ...stamp,
          };
          const event = siteCreatedEvent(site);
          await writer.write([
            { topic: topics['sites.v1'], schema: SITE_SCHEMA, key: site.id, value: site },
            { topic: topics['events.v1'], schema: 'event', key: site.id, value: event },
          ]);
          view.putSite(site);
          metrics.eventsEmitted.inc({ type: event.type });
          return renderSite(site);
        },
      );
      return reply
        .code(201)
        .header('idempotent-replayed', String(result.replayed))
        .send(result.value);
    },
  );

  app.get('/sites', { schema: { summary: 'List sites', tags: ['sites'] } }, async (request) => ({
    sites: ownedBy(view.sites, request.workspaceId).map(renderSite),
  }));

  app.get<{ Params: { id: string } }>(
    '/sites/:id',
    { schema: { summary: 'Get a site', tags: ['sites'], params: idParams } },
    async (request) =>
      renderSite(requireOwned(view.sites.get(request.params.id), request.workspaceId)),
  );

  app.post<{ Body: EnrollmentBody }>(
    '/enrollments',
    {
      schema: {
        summary: 'Enroll a customer in a program',
        tags: ['enrollments'],
        headers: idempotencyHeaders,
        body: enrollmentBody,
      },
    },
    async (request, reply) => {
      const { workspaceId, body } = request;
      const customer = view.customers.get(body.customerId);
      if (!isOwned(customer, workspaceId)) {
        throw adminError(AdminErrorCode.invalidRequest, 'no such customer', {
          context: { field: 'body.customerId' },
        });
      }
      if (body.siteId !== undefined && !isOwned(view.sites.get(body.siteId), workspaceId)) {
        throw adminError(AdminErrorCode.invalidRequest, 'no such site', {
          context: { field: 'body.siteId' },
        });
      }
      const result = await idempotency.persisted(
        workspaceId,
        'enrollment',
        idempotentRequestOf(request),
        (id) => renderOwned(view.enrollments.get(id), workspaceId, renderEnrollment),
        async (stamp) => {
          const at = context.now();
          const enrollment: EnrollmentRecord = {
            id: newId('enr'),
            workspaceId,
            organizationId: customer!.organizationId,
            customerId: customer!.id,
            siteId: body.siteId ?? null,
            programManager: body.programManager,
            status: 'PENDING',
            approvedAt: null,
            createdAt: at,
            updatedAt: at,
            ...stamp,
          };
          await writer.write([
            {
              topic: topics['enrollments.v1'],
              schema: ENROLLMENT_SCHEMA,
              key: enrollment.id,
              value: enrollment,
            },
          ]);
          view.putEnrollment(enrollment);
          return renderEnrollment(enrollment);
        },
      );
      return reply
        .code(201)
        .header('idempotent-replayed', String(result.replayed))
        .send(result.value);
    },
  );

  app.get(
    '/enrollments',
    { schema: { summary: 'List enrollments', tags: ['enrollments'] } },
    async (request) => ({
      enrollments: ownedBy(view.enrollments, request.workspaceId).map(renderEnrollment),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/enrollments/:id',
    { schema: { summary: 'Get an enrollment', tags: ['enrollments'], params: idParams } },
    async (request) =>
      renderEnrollment(requireOwned(view.enrollments.get(request.params.id), request.workspaceId)),
  );

  // Approving is idempotent by nature: a second approval finds APPROVED and writes nothing.
  // The lock keeps two concurrent approvals in this process from both writing; across
  // replicas both could, and the event key (a hash of the payload) is then the same for both,
  // so receivers deduplicate.
  app.post<{ Params: { id: string } }>(
    '/enrollments/:id/approve',
    {
      schema: {
        summary: 'Approve an enrollment (emits enrollment.approved once)',
        tags: ['enrollments'],
        params: idParams,
      },
    },
    async (request) =>
      context.withLock(`enrollment:${request.params.id}`, async () => {
        const enrollment = requireOwned(
          view.enrollments.get(request.params.id),
          request.workspaceId,
        );
        if (enrollment.status === 'APPROVED') return renderEnrollment(enrollment);

        const customer = view.customers.get(enrollment.customerId);
        if (!customer) {
          throw adminError(AdminErrorCode.conflict, 'the enrollment’s customer no longer exists', {
            context: { enrollmentId: enrollment.id },
          });
        }
        const at = context.now();
        const approved: EnrollmentRecord = {
          ...enrollment,
          status: 'APPROVED',
          approvedAt: at,
          updatedAt: at,
        };
        const event = enrollmentApprovedEvent(approved, customer);
        await writer.write([
          {
            topic: topics['enrollments.v1'],
            schema: ENROLLMENT_SCHEMA,
            key: approved.id,
            value: approved,
          },
          { topic: topics['events.v1'], schema: 'event', key: approved.id, value: event },
        ]);
        view.putEnrollment(approved);
        metrics.eventsEmitted.inc({ type: event.type });
        return renderEnrollment(approved);
      }),
  );
}

interface CustomerBody {
  organizationId?: string;
  referenceId?: string | null;
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  phone?: string | null;
}

interface SiteBody {
  customerId?: string;
  referenceId?: string | null;
  siteName: string;
  address?: Partial<Record<keyof NonNullable<SiteRecord['address']>, string | null>>;
  longitude?: number | null;
  latitude?: number | null;
}

interface EnrollmentBody {
  customerId: string;
  siteId?: string;
  programManager: string;
}

const customerBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    organizationId: { type: 'string', minLength: 1, maxLength: 128 },
    referenceId: nullableString(),
    email: { type: ['string', 'null'], format: 'email', maxLength: 320 },
    firstName: nullableString(),
    lastName: nullableString(),
    phone: { type: ['string', 'null'], pattern: '^\\+?[0-9 ()-]{3,32}$' },
  },
} as const;

const siteBody = {
  type: 'object',
  additionalProperties: false,
  required: ['siteName'],
  properties: {
    customerId: { type: 'string', minLength: 1, maxLength: 128 },
    referenceId: nullableString(),
    siteName: { type: 'string', minLength: 1, maxLength: 256 },
    address: addressSchema,
    longitude: { type: ['number', 'null'], minimum: -180, maximum: 180 },
    latitude: { type: ['number', 'null'], minimum: -90, maximum: 90 },
  },
} as const;

const enrollmentBody = {
  type: 'object',
  additionalProperties: false,
  required: ['customerId', 'programManager'],
  properties: {
    customerId: { type: 'string', minLength: 1, maxLength: 128 },
    siteId: { type: 'string', minLength: 1, maxLength: 128 },
    programManager: { type: 'string', minLength: 1, maxLength: 256 },
  },
} as const;

export function renderCustomer(customer: CustomerRecord) {
  const { idempotencyKey: _key, idempotencyRequestHash: _hash, ...rest } = customer;
  return { ...rest, createdAt: iso(customer.createdAt), updatedAt: iso(customer.updatedAt) };
}

function renderSite(site: SiteRecord) {
  const { idempotencyKey: _key, idempotencyRequestHash: _hash, ...rest } = site;
  return { ...rest, createdAt: iso(site.createdAt), updatedAt: iso(site.updatedAt) };
}

function renderEnrollment(enrollment: EnrollmentRecord) {
  const { idempotencyKey: _key, idempotencyRequestHash: _hash, ...rest } = enrollment;
  return {
    ...rest,
    status: enrollment.status.toLowerCase(),
    approvedAt: iso(enrollment.approvedAt),
    createdAt: iso(enrollment.createdAt),
    updatedAt: iso(enrollment.updatedAt),
  };
}

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

export function isOwned<T extends { workspaceId: string }>(
  record: T | undefined,
  workspaceId: string,
): record is T {
  return record !== undefined && record.workspaceId === workspaceId;
}

/** Another workspace's record is answered exactly like a missing one. */
export function requireOwned<T extends { workspaceId: string }>(
  record: T | undefined,
  workspaceId: string,
): T {
  if (!isOwned(record, workspaceId)) throw adminError(AdminErrorCode.notFound, 'not found');
  return record;
}

function renderOwned<T extends { workspaceId: string }, R>(
  record: T | undefined,
  workspaceId: string,
  render: (record: T) => R,
): R | undefined {
  return isOwned(record, workspaceId) ? render(record) : undefined;
}

function ownedBy<T extends { workspaceId: string; createdAt: number }>(
  records: ReadonlyMap<string, T>,
  workspaceId: string,
): T[] {
  return [...records.values()]
    .filter((record) => record.workspaceId === workspaceId)
    .sort((a, b) => a.createdAt - b.createdAt);
}
