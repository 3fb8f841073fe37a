/** Records on customers.v1, sites.v1, enrollments.v1 and commands.v1 (schemas/*.avsc). */
import type { Address } from '../common/device-state';

export const CUSTOMER_SCHEMA = 'customer';
export const SITE_SCHEMA = 'site';
export const ENROLLMENT_SCHEMA = 'enrollment';
export const COMMAND_SCHEMA = 'command';

export interface CustomerRecord {
  id: string;
  workspaceId: string;
  organizationId: string;
  referenceId: string | null;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  phone: string | null;
  createdAt: number;
  updatedAt: number;
  idempotencyKey: string | null;
  idempotencyRequestHash: string | null;
}

export interface SiteRecord {
  id: string;
  workspaceId: string;
  customerId: string | null;
  referenceId: string | null;
  siteName: string | null;
  /** The same fields as device-state.v1's Address (schemas/site.avsc names its own). */
  address: Address | null;
  longitude: number | null;
  latitude: number | null;
  createdAt: number;
  updatedAt: number;
  idempotencyKey: string | null;
  idempotencyRequestHash: string | null;
}

export type EnrollmentStatus = 'PENDING' | 'APPROVED';

export interface EnrollmentRecord {
  id: string;
  workspaceId: string;
  organizationId: string;
  customerId: string;
  siteId: string | null;
  programManager: string;
  status: EnrollmentStatus;
  approvedAt: number | null;
  createdAt: number;
  updatedAt: number;
  idempotencyKey: string | null;
  idempotencyRequestHash: string | null;
}

export type CommandAction = 'SET_BACKUP_RESERVE' | 'SET_OPERATING_MODE' | 'SET_STORM_MODE';
export type CommandStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';
export const OPERATING_MODES = ['self_consumption', 'autonomous', 'backup'] as const;
export type OperatingMode = (typeof OPERATING_MODES)[number];

export interface CommandRecord {
  commandId: string;
  workspaceId: string;
  deviceId: string;
  connectionId: string | null;
  oem: string | null;
  action: CommandAction;
  backupReservePercent: number | null;
  operatingMode: string | null;
  stormModeEnabled: boolean | null;
  status: CommandStatus;
  issuedAt: number;
  executedAt: number | null;
  errorMessage: string | null;
  idempotencyKey: string | null;
  idempotencyRequestHash: string | null;
}
