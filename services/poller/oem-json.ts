import { NormalizationError } from './errors';

/**
 * Readers for OEM JSON: a field that is absent or null reads as null (never 0); a field of the
 * wrong type is a malformed response. Error contexts name the field, never its value, so a
 * logged error carries no OEM payload.
 */
export type JsonObject = Record<string, unknown>;

export function parseJsonObject(body: string, what: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new NormalizationError('malformed_json', 'OEM response is not JSON', { what });
  }
  if (!isObject(parsed)) {
    throw new NormalizationError('malformed_json', 'OEM response is not a JSON object', { what });
  }
  return parsed;
}

/** Tesla wraps bodies in {"response": …}; some documented examples come without it. */
export function unwrapTesla(body: JsonObject, what: string): JsonObject {
  if (!('response' in body)) return body;
  const inner = body.response;
  if (!isObject(inner)) {
    throw new NormalizationError('missing_field', 'Tesla response envelope is empty', { what });
  }
  return inner;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function optionalNumber(obj: JsonObject, field: string, what: string): number | null {
  const value = obj[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new NormalizationError('malformed_json', 'field is not a number', { what, field });
  }
  return value;
}

export function requiredNumber(obj: JsonObject, field: string, what: string): number {
  const value = optionalNumber(obj, field, what);
  if (value === null) {
    throw new NormalizationError('missing_field', 'required field missing', { what, field });
  }
  return value;
}

export function optionalString(obj: JsonObject, field: string): string | null {
  const value = obj[field];
  return typeof value === 'string' ? value : null;
}

export function optionalBoolean(obj: JsonObject, field: string): boolean | null {
  const value = obj[field];
  return typeof value === 'boolean' ? value : null;
}

export function optionalObject(obj: JsonObject, field: string): JsonObject | null {
  const value = obj[field];
  return isObject(value) ? value : null;
}

/** Throws implausible_value unless `min <= value <= max`. */
export function assertRange(
  value: number | null,
  min: number,
  max: number,
  what: string,
  field: string,
): void {
  if (value === null) return;
  if (value < min || value > max) {
    throw new NormalizationError('implausible_value', 'value outside plausible range', {
      what,
      field,
      min,
      max,
    });
  }
}

/** ISO-8601 (any offset) to epoch ms; an unparseable string reads as null. */
export function parseTimestampMs(value: string | null): number | null {
  if (value === null) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
