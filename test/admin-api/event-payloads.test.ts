import { enrollmentApprovedEvent } from '../../services/admin-api/event-payloads';
import type { CustomerRecord, EnrollmentRecord } from '../../services/admin-api/records';

describe('enrollmentApprovedEvent', () => {
  const customer: CustomerRecord = {
    id: 'cu-1',
    workspaceId: 'ws-1',
    organizationId: 'org-1',
    referenceId: 'ref-1',
    email: 'jdoe@example.com',
    firstName: 'Jane',
    lastName: 'Doe',
    phone: null,
    createdAt: Date.UTC(2024, 2, 20, 14, 30),
    updatedAt: Date.UTC(2024, 2, 20, 14, 30),
    idempotencyKey: null,
    idempotencyRequestHash: null,
  };
  const enrollment = (id: string, approvedAt: number): EnrollmentRecord => ({
    id,
    workspaceId: 'ws-1',
    organizationId: 'org-1',
    customerId: 'cu-1',
    siteId: null,
    programManager: 'GridCo Energy Services',
    status: 'APPROVED',
    approvedAt,
    createdAt: approvedAt - 60_000,
    updatedAt: approvedAt,
    idempotencyKey: null,
    idempotencyRequestHash: null,
  });

  it('gives two enrollments with identical payloads distinct keys', () => {
    const first = enrollmentApprovedEvent(enrollment('en-1', Date.UTC(2024, 2, 21)), customer);
    const second = enrollmentApprovedEvent(enrollment('en-2', Date.UTC(2024, 3, 1)), customer);

    expect(second.data).toBe(first.data);
    expect(second.key).not.toBe(first.key);
  });

  it('gives the same enrollment the same key every time it is built', () => {
    const approved = enrollment('en-1', Date.UTC(2024, 2, 21));

    expect(enrollmentApprovedEvent(approved, customer).key).toBe(
      enrollmentApprovedEvent({ ...approved }, customer).key,
    );
    expect(enrollmentApprovedEvent(approved, customer).key).toMatch(/^[0-9a-f]{64}$/);
  });
});
