/** JSON-schema pieces the routes share. */

/** The longest id a path takes; the router refuses longer path parameters before validation. */
export const MAX_ID_LENGTH = 128;

export const idParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } },
} as const;

/** Idempotency-Key: printable ASCII, as in the IETF draft's examples. */
export const idempotencyHeaders = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7e]+$',
    },
  },
} as const;

export const nullableString = (maxLength = 256) =>
  ({ type: ['string', 'null'], maxLength }) as const;

export const addressSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    streetAddress1: nullableString(),
    streetAddress2: nullableString(),
    city: nullableString(),
    state: nullableString(),
    postalCode: nullableString(32),
    country: nullableString(64),
  },
} as const;

export function idempotencyKeyOf(headers: Record<string, unknown>): string | undefined {
  const value = headers['idempotency-key'];
  return typeof value === 'string' ? value : undefined;
}

export function iso(epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString();
}
