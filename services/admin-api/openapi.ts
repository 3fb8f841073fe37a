import type { RouteOptions } from 'fastify';

interface CollectedRoute {
  method: string;
  url: string;
  schema: NonNullable<RouteOptions['schema']> & {
    summary?: string;
    tags?: string[];
    response?: Record<string, unknown>;
  };
}

/**
 * An OpenAPI 3.1 document built from the routes' own JSON schemas, so the document and the
 * validation can never disagree. OpenAPI 3.1 schemas are JSON Schema, so they go in unchanged.
 */
export function createOpenApiCollector() {
  const routes: CollectedRoute[] = [];
  return {
    onRoute(route: RouteOptions) {
      if (!route.schema || (route.schema as { hide?: boolean }).hide) return;
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) {
        if (method === 'HEAD') continue;
        routes.push({
          method: method.toLowerCase(),
          url: route.url,
          schema: route.schema as CollectedRoute['schema'],
        });
      }
    },
    document(info: { title: string; version: string }) {
      const paths: Record<string, Record<string, unknown>> = {};
      for (const route of routes) {
        const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
        paths[path] ??= {};
        paths[path]![route.method] = describeOperation(route);
      }
      return {
        openapi: '3.1.0',
        info,
        components: {
          securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
        },
        security: [{ apiKey: [] }],
        paths,
      };
    },
  };
}

function describeOperation(route: CollectedRoute) {
  const { schema } = route;
  const parameters = [
    ...parametersOf(schema.params, 'path'),
    ...parametersOf(schema.querystring, 'query'),
    ...parametersOf(schema.headers, 'header'),
  ];
  const responses: Record<string, unknown> = {};
  for (const [status, body] of Object.entries(schema.response ?? {})) {
    responses[status] = {
      description: (body as { description?: string }).description ?? status,
      content: { 'application/json': { schema: body } },
    };
  }
  responses['400'] ??= { description: 'invalid request: error.field names the field' };
  responses['401'] ??= { description: 'missing or wrong API key' };
  return {
    summary: schema.summary,
    tags: schema.tags,
    parameters: parameters.length > 0 ? parameters : undefined,
    requestBody: schema.body
      ? { required: true, content: { 'application/json': { schema: schema.body } } }
      : undefined,
    responses,
  };
}

function parametersOf(schema: unknown, where: 'path' | 'query' | 'header') {
  const { properties = {}, required = [] } = (schema ?? {}) as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || required.includes(name),
    schema: property,
  }));
}
