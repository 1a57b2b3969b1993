import { strategyProblem } from './conflict/resolve.js';
import { refuseUnknownOptions } from './internal/known-options.js';
import type { StandardSchemaV1 } from './internal/standard-schema.js';
import type { InferEntity, InferInput, ResourceDefinition, ResourceOptions } from './types.js';

const NAME = /^[A-Za-z0-9_.-]+$/;
const RESOURCE_OPTIONS = ['name', 'schema', 'key', 'version', 'path', 'delta', 'conflicts', 'ids', 'references', 'load', 'cacheLimit', 'toSearchParams'];

/**
 * Declares a resource: its name, schema and how it syncs. Pure: the definition is a frozen
 * value that any number of clients can share.
 *
 * @example
 * const todos = defineResource({
 *   name: 'todos',
 *   schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
 *   delta: true,
 * });
 */
export function defineResource<S extends StandardSchemaV1<unknown, object>, K extends string = 'id', V extends string = 'version'>(
  options: ResourceOptions<S, K, V>,
): ResourceDefinition<InferEntity<S>, K, V, InferInput<S>> {
  if (!options || typeof options !== 'object') throw new TypeError('defineResource: options are required ({ name, schema })');
  const { name, schema } = options;
  refuseUnknownOptions('defineResource: ', options, RESOURCE_OPTIONS);
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new TypeError(`defineResource: name must be a non-empty string of letters, digits, "_", "-" or ".", got ${JSON.stringify(name)}`);
  }
  // As a URL path segment the parser removes "." and ".." (the default path "/.." is baseUrl's parent).
  if (name === '.' || name === '..') throw new TypeError(`defineResource: name must not be "." or "..", got ${JSON.stringify(name)}`);
  if (!schema || typeof schema !== 'object' || !('~standard' in schema)) {
    throw new TypeError(`defineResource(${name}): schema must implement Standard Schema (zod 4, valibot, arktype)`);
  }
  // Absent, the field is the default its type parameter says.
  const key = options.key ?? ('id' as K);
  const version = options.version ?? ('version' as V);
  for (const [option, field] of [['key', key], ['version', version]]) {
    if (typeof field !== 'string' || field === '') throw new TypeError(`defineResource(${name}): ${option} must be a field name, got ${JSON.stringify(field)}`);
  }
  if ((key as string) === version) throw new TypeError(`defineResource(${name}): key and version must be different fields`);
  const path = options.path ?? `/${name}`;
  if (!path.startsWith('/')) throw new TypeError(`defineResource(${name}): path must start with "/", got "${path}"`);
  // Requests append "/{id}" to the path and resolve it against baseUrl: a query or fragment would
  // swallow the id, and a dot segment (even percent-encoded) or a backslash would leave baseUrl.
  if (/[?#\\]/.test(path) || path.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) {
    throw new TypeError(`defineResource(${name}): path must be URL path segments, with no "?", "#", "\\", "." or ".." segment, got ${JSON.stringify(path)}`);
  }
  const cacheLimit = options.cacheLimit ?? 50_000;
  if (!Number.isInteger(cacheLimit) || cacheLimit < 0) {
    throw new TypeError(`defineResource(${name}): cacheLimit must be a non-negative integer, got ${cacheLimit}`);
  }
  // Spread below: a string or an array would become references named "0", "1"...
  const references: unknown = options.references ?? {};
  if (typeof references !== 'object' || references === null || Array.isArray(references)) {
    throw new TypeError(`defineResource(${name}): references must be an object of field names to resource names, got ${JSON.stringify(references)}`);
  }
  for (const [field, target] of Object.entries(references)) {
    if (field === '' || typeof target !== 'string' || !NAME.test(target) || target === '.' || target === '..') {
      throw new TypeError(`defineResource(${name}): references.${field} must name a resource (a defineResource() name), got ${JSON.stringify(target)}`);
    }
  }
  // A misspelt value would be the default, taken without a word: another id scheme or loading.
  const problem = options.conflicts === undefined ? null : strategyProblem(options.conflicts);
  if (problem) throw new TypeError(`defineResource(${name}): ${problem}`);
  const ids: unknown = options.ids ?? 'client';
  if (ids !== 'client' && ids !== 'server') throw new TypeError(`defineResource(${name}): ids must be 'client' or 'server', got ${JSON.stringify(ids)}`);
  // A setting read as text would be truthy: 'false' would ask the server for a feed it may not serve.
  const delta: unknown = options.delta ?? false;
  if (typeof delta !== 'boolean') throw new TypeError(`defineResource(${name}): delta must be true or false, got ${JSON.stringify(delta)}`);
  const load: unknown = options.load ?? 'all';
  if (load !== 'all' && load !== 'on-demand') throw new TypeError(`defineResource(${name}): load must be 'all' or 'on-demand', got ${JSON.stringify(load)}`);
  if (options.toSearchParams !== undefined && typeof options.toSearchParams !== 'function') {
    throw new TypeError(`defineResource(${name}): toSearchParams must be a function, got ${JSON.stringify(options.toSearchParams)}`);
  }
  const definition: ResourceDefinition<InferEntity<S>, K, V, InferInput<S>> = {
    name,
    schema: schema as unknown as StandardSchemaV1<unknown, InferEntity<S>>,
    key,
    version,
    path: path.replace(/\/+$/, '') || '/',
    delta,
    conflicts: options.conflicts as ResourceDefinition<InferEntity<S>, K, V>['conflicts'],
    ids,
    references: Object.freeze({ ...(references as Record<string, string>) }),
    load,
    cacheLimit,
    toSearchParams: options.toSearchParams,
  };
  return Object.freeze(definition);
}
