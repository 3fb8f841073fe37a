import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isGridpulseError } from '../common/errors';
import type { Logger } from '../common/logger';
import { AdminErrorCode, HTTP_STATUS_BY_CODE } from './errors';
import { MAX_ID_LENGTH } from './http-schemas';

/** The body of every error response: a code to branch on, a message, the field when known. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/** Codes of the modules the API calls that mean "the caller sent something wrong". */
const CALLER_ERRORS: Readonly<Record<string, { status: number; field?: string }>> = Object.freeze({
  GP_DISPATCH_DESTINATION_INVALID: { status: 400 },
  GP_DISPATCH_URL_INVALID: { status: 400, field: 'body.url' },
  GP_DISPATCH_URL_REFUSED: { status: 400, field: 'body.url' },
  GP_DISPATCH_ADDRESS_REFUSED: { status: 400, field: 'body.url' },
  GP_DISPATCH_DESTINATION_NOT_FOUND: { status: 404 },
  // A replay asked for a disabled destination: enable it first.
  GP_DISPATCH_DESTINATION_DISABLED: { status: 409 },
  GP_POLLER_CONNECTION_INVALID: { status: 400 },
  GP_POLLER_CREDENTIALS_MISSING: { status: 400, field: 'body.credentials' },
});

/**
 * Maps every failure to a status and an ErrorBody. Validation errors name the field as
 * `<part>.<path>` (e.g. body.backupReserve, headers.idempotency-key). Unexpected errors are
 * logged with `err` and answered with a bare 500: their messages may carry internals.
 */
export function createErrorHandler(logger: Logger) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err.validation) {
      const field = fieldOfValidation(err.validationContext ?? 'body', err.validation[0]);
      return send(
        reply,
        400,
        AdminErrorCode.invalidRequest,
        `${field} ${problemOf(err.validation[0])}`,
        field,
      );
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return send(reply, 400, AdminErrorCode.bodyTooLarge, 'body is too large', 'body');
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return send(
        reply,
        415,
        AdminErrorCode.invalidRequest,
        'body must be application/json',
        'headers.content-type',
      );
    }
    if (
      err.code?.startsWith('FST_ERR_CTP_') ||
      (err.statusCode === 400 && !isGridpulseError(err))
    ) {
      return send(reply, 400, AdminErrorCode.invalidRequest, 'body is not valid JSON', 'body');
    }

    if (isGridpulseError(err)) {
      const own = HTTP_STATUS_BY_CODE[err.code];
      const foreign = CALLER_ERRORS[err.code];
      const status = own ?? foreign?.status;
      if (status !== undefined && status < 500) {
        const field = fieldOfContext(err.context) ?? foreign?.field;
        return send(reply, status, err.code, err.message, field);
      }
      if (status !== undefined) {
        logger.warn(
          { err, method: request.method, route: request.routeOptions.url },
          'request failed',
        );
        return send(reply, status, err.code, err.message);
      }
    }

    logger.error(
      { err, method: request.method, route: request.routeOptions.url },
      'request failed',
    );
    return send(reply, 500, 'GP_ADMIN_INTERNAL', 'internal error');
  };
}

/**
 * The errors fastify's router raises before a route is found (so before the auth hook): a
 * path parameter over the router's limit, or one that is not valid percent-encoding. The
 * answer never repeats the path: it can be kilobytes long.
 */
export function createFrameworkErrorHandler(logger: Logger) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
      const message = `a path parameter is longer than ${MAX_ID_LENGTH} characters`;
      return send(reply, 400, AdminErrorCode.invalidRequest, message, 'params');
    }
    if (err.code === 'FST_ERR_BAD_URL') {
      const message = 'a path parameter is not valid percent-encoding';
      return send(reply, 400, AdminErrorCode.invalidRequest, message, 'params');
    }
    logger.error({ err, method: request.method }, 'request failed');
    return send(reply, 500, 'GP_ADMIN_INTERNAL', 'internal error');
  };
}

/**
 * Malformed HTTP, answered on the socket before fastify sees a request (node's parser gave
 * up): headers over node's limit (16 KiB with the URL), a broken request line, a request
 * that did not arrive in time. Replaces fastify's default, which answers in its own shape.
 */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;

  const [status, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the URL and headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request did not arrive in time']
        : [400, 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: { code: AdminErrorCode.invalidRequest, message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Content-Type: application/json\r\nConnection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy(err);
}

export function send(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  field?: string,
): FastifyReply {
  const body: ErrorBody = {
    error: field === undefined ? { code, message } : { code, message, field },
  };
  return reply.code(status).type('application/json').send(body);
}

interface AjvError {
  keyword?: string;
  instancePath?: string;
  params?: Record<string, unknown>;
  message?: string;
}

/** ajv's message, reworded where it repeats the field or hides what is allowed. */
function problemOf(error: AjvError | undefined): string {
  const params = error?.params ?? {};
  switch (error?.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not allowed';
    case 'enum':
      if (Array.isArray(params.allowedValues)) {
        return `must be one of ${params.allowedValues.join(', ')}`;
      }
      break;
    case 'type':
      // A nullable member's type is ['string', 'null']: ajv says "must be string,null".
      return `must be ${String(params.type).split(',').join(' or ')}`;
  }
  return error?.message ?? 'is invalid';
}

function fieldOfValidation(context: string, error: AjvError | undefined): string {
  const segments = (error?.instancePath ?? '')
    .split('/')
    .filter(Boolean)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = error?.params ?? {};
  const extra = params.additionalProperty ?? params.missingProperty;
  if (typeof extra === 'string') segments.push(extra);
  return [context, ...segments].join('.');
}

/** The dispatcher's and the poller's errors name fields in context.fields (first one wins). */
function fieldOfContext(context: Record<string, unknown>): string | undefined {
  const fields = context.fields;
  if (Array.isArray(fields) && typeof fields[0] === 'string' && fields[0] !== '') {
    return `body.${fields[0]}`;
  }
  return typeof context.field === 'string' ? context.field : undefined;
}
