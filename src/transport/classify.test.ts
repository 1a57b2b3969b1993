import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPlainObject } from '../internal/plain.js';
import { classifyStatus, conflictEntity, type Outcome, type WriteOp } from './classify.js';

const strict = (v: unknown): boolean => isPlainObject(v) && typeof v['id'] === 'string';
const loose = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const entity = { id: 't1', title: 'Milk', version: 4 };
const OPS: readonly WriteOp[] = ['create', 'update', 'delete'];
const OUTCOMES: readonly Outcome[] = ['ok', 'retry', 'conflict', 'gone', 'unauthorized', 'permanent'];
const opArb = fc.constantFrom(...OPS);
const bodyArb = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(entity), fc.constant({ current: entity }), fc.constant(undefined));

describe('classifyStatus', () => {
  it('is total over every status 100–599, for every op and body', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), opArb, bodyArb, fc.constantFrom(strict, loose), (status, op, body, isEntity) => {
        expect(OUTCOMES).toContain(classifyStatus(status, op, body, isEntity));
      }),
    );
    for (let status = 100; status <= 599; status++) {
      for (const op of OPS) expect(OUTCOMES).toContain(classifyStatus(status, op, undefined, strict));
    }
  });

  it('is total over any number: outside 100–599 or not an integer means retry', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer()), opArb, (status, op) => {
        const outcome = classifyStatus(status, op, undefined, strict);
        expect(OUTCOMES).toContain(outcome);
        if (!Number.isInteger(status) || status < 100 || status > 599) expect(outcome).toBe('retry');
      }),
    );
    for (const status of [0, -1, 99, 600, 999, 200.5, NaN, Infinity]) expect(classifyStatus(status, 'update', entity, strict)).toBe('retry');
  });

  it('maps each status DESIGN §2 names', () => {
    const table: Array<[number, WriteOp, unknown, Outcome]> = [
      [200, 'update', entity, 'ok'],
      [201, 'create', entity, 'ok'],
      [204, 'delete', undefined, 'ok'],
      [408, 'update', undefined, 'retry'],
      [425, 'update', undefined, 'retry'],
      [429, 'create', undefined, 'retry'],
      [500, 'update', undefined, 'retry'],
      [502, 'delete', undefined, 'retry'],
      [503, 'create', undefined, 'retry'],
      [504, 'update', undefined, 'retry'],
      [401, 'update', undefined, 'unauthorized'],
      [401, 'create', entity, 'unauthorized'],
      [409, 'update', entity, 'conflict'],
      [409, 'update', { current: entity }, 'conflict'],
      [409, 'create', entity, 'conflict'],
      [409, 'update', { error: 'in progress' }, 'retry'],
      [409, 'update', 'processing', 'retry'],
      [409, 'update', undefined, 'retry'],
      [409, 'update', { current: null }, 'retry'],
      [412, 'update', entity, 'conflict'],
      [412, 'delete', { current: entity }, 'conflict'],
      [412, 'update', undefined, 'conflict'],
      [404, 'update', undefined, 'gone'],
      [404, 'delete', undefined, 'gone'],
      [404, 'create', undefined, 'permanent'],
      [410, 'update', undefined, 'gone'],
      [410, 'create', undefined, 'permanent'],
      [400, 'create', { error: 'bad' }, 'permanent'],
      [403, 'update', undefined, 'permanent'],
      [422, 'create', undefined, 'permanent'],
      [428, 'update', undefined, 'permanent'],
      [301, 'update', undefined, 'permanent'],
      [304, 'update', undefined, 'permanent'],
      [100, 'update', undefined, 'retry'],
      [501, 'update', undefined, 'permanent'],
      [505, 'update', undefined, 'permanent'],
      [507, 'update', undefined, 'retry'],
      [511, 'update', undefined, 'retry'],
      [522, 'update', undefined, 'retry'],
    ];
    for (const [status, op, body, outcome] of table) {
      expect(classifyStatus(status, op, body, strict), `${status} ${op}`).toBe(outcome);
    }
  });

  it('every 2xx is ok, every 3xx permanent, every 5xx retry but the five that cannot succeed', () => {
    for (let status = 200; status <= 299; status++) expect(classifyStatus(status, 'update', undefined, strict)).toBe('ok');
    for (let status = 300; status <= 399; status++) expect(classifyStatus(status, 'update', undefined, strict)).toBe('permanent');
    for (let status = 500; status <= 599; status++) {
      const expected = [501, 505, 506, 508, 510].includes(status) ? 'permanent' : 'retry';
      expect(classifyStatus(status, 'update', entity, strict), String(status)).toBe(expected);
    }
  });

  it('any other 4xx is permanent, whatever the op and body', () => {
    const special = new Set([401, 404, 408, 409, 410, 412, 425, 429]);
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 499 }).filter((s) => !special.has(s)), opArb, bodyArb, (status, op, body) => {
        expect(classifyStatus(status, op, body, strict)).toBe('permanent');
      }),
    );
  });

  it('uses isEntity to tell a conflict from a server still processing the key', () => {
    expect(classifyStatus(409, 'update', { title: 'no id' }, strict)).toBe('retry');
    expect(classifyStatus(409, 'update', { title: 'no id' }, loose)).toBe('conflict');
  });
});

describe('conflictEntity', () => {
  it('returns the body when it is the entity', () => {
    expect(conflictEntity(entity, strict)).toBe(entity);
    expect(conflictEntity(entity, loose)).toBe(entity);
  });

  it('unwraps { current: entity }', () => {
    const body = { current: entity };
    expect(conflictEntity(body, strict)).toBe(entity);
    expect(conflictEntity(body, loose)).toBe(entity);
    expect(conflictEntity({ current: entity, message: 'version mismatch' }, strict)).toBe(entity);
  });

  it('keeps an entity that has a current field', () => {
    const withCurrent = { id: 't2', current: { id: 'x' } };
    expect(conflictEntity(withCurrent, strict)).toBe(withCurrent);
    expect(conflictEntity(withCurrent, loose)).toBe(withCurrent);
  });

  it('is undefined when no entity is carried', () => {
    for (const body of [undefined, null, '', 'processing', 42, [], [entity], { error: 'x' }, { current: null }, { current: 'x' }]) {
      expect(conflictEntity(body, strict), JSON.stringify(body)).toBeUndefined();
    }
    expect(conflictEntity(JSON.parse('{"__proto__":{"id":"t1"}}'), strict)).toBeUndefined();
  });
});
