import { createEventRecord, type EventRecord } from '../common/events';
import type { CommandRecord, CustomerRecord, EnrollmentRecord, SiteRecord } from './records';

/**
 * The `data` of the five events the admin API and the command executor emit, member for member
 * in the order of the seed catalogue's examples (shared/seed/events.md); times are ISO-8601 UTC
 * with milliseconds. The catalogue is the contract with receivers: add nothing, drop nothing.
 */

export function customerCreatedEvent(customer: CustomerRecord): EventRecord {
  const data = {
    id: customer.id,
    workspaceId: customer.workspaceId,
    referenceId: customer.referenceId,
    organizationId: customer.organizationId,
    updatedAt: iso(customer.updatedAt),
    createdAt: iso(customer.createdAt),
    email: customer.email,
    firstName: customer.firstName,
    lastName: customer.lastName,
    phone: customer.phone,
  };
  return createEventRecord('customer.created', data, {
    timestamp: customer.createdAt,
    workspaceId: customer.workspaceId,
  });
}

export function siteCreatedEvent(site: SiteRecord): EventRecord {
  const data = {
    id: site.id,
    workspaceId: site.workspaceId,
    referenceId: site.referenceId,
    updatedAt: iso(site.updatedAt),
    createdAt: iso(site.createdAt),
    siteName: site.siteName,
    location: { longitude: site.longitude, latitude: site.latitude },
  };
  return createEventRecord('site.created', data, {
    timestamp: site.createdAt,
    workspaceId: site.workspaceId,
  });
}

/**
 * `customer.phone` is in the catalogue's field table but not in its example; it is always
 * present here (null when unknown), after `email` as the table lists it.
 *
 * The payload carries no enrollment id, so two enrollments of one customer with the same
 * program manager would hash alike: the enrollment id scopes the key.
 */
export function enrollmentApprovedEvent(
  enrollment: EnrollmentRecord,
  customer: CustomerRecord,
): EventRecord {
  const data = {
    workspaceId: enrollment.workspaceId,
    organizationId: enrollment.organizationId,
    customer: {
      id: customer.id,
      workspaceId: customer.workspaceId,
      organizationId: customer.organizationId,
      email: customer.email,
      phone: customer.phone,
      firstName: customer.firstName,
      lastName: customer.lastName,
      referenceId: customer.referenceId,
      updatedAt: iso(customer.updatedAt),
      createdAt: iso(customer.createdAt),
    },
    program: { manager: enrollment.programManager },
  };
  return createEventRecord('enrollment.approved', data, {
    timestamp: enrollment.approvedAt ?? enrollment.updatedAt,
    workspaceId: enrollment.workspaceId,
    keyScope: enrollment.id,
  });
}

/** command.succeeded or command.failed for a command in a terminal state. */
export function commandResultEvent(command: CommandRecord): EventRecord {
  const executedAt = command.executedAt ?? command.issuedAt;
  const meta = {
    timestamp: executedAt,
    workspaceId: command.workspaceId,
    deviceId: command.deviceId,
  };
  if (command.status === 'SUCCEEDED') {
    return createEventRecord(
      'command.succeeded',
      {
        workspaceId: command.workspaceId,
        commandId: command.commandId,
        deviceId: command.deviceId,
        issuedAt: iso(command.issuedAt),
        executedAt: iso(executedAt),
      },
      meta,
    );
  }
  return createEventRecord(
    'command.failed',
    {
      workspaceId: command.workspaceId,
      commandId: command.commandId,
      deviceId: command.deviceId,
      error: { message: command.errorMessage ?? 'Failed to execute command' },
      issuedAt: iso(command.issuedAt),
      executedAt: iso(executedAt),
    },
    meta,
  );
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
