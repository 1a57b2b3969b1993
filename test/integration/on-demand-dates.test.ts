// Dates in an on-demand query, against the reference server: the server stores a Date as the ISO
// text a request carries (toJSON), and compares a filter with the stored value as text.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestBackend } from '../../server/index.mjs';
import { defineResource, type QueryState } from '../../src/index.js';
import { api } from '../server/api.js';
import { closeDevices, device, until, type Device } from '../helpers/harness.js';

const eventSchema = z.object({ id: z.string(), title: z.string(), due: z.coerce.date(), version: z.number().int() });
type Event = z.infer<typeof eventSchema>;
const events = defineResource({ name: 'events', schema: eventSchema, load: 'on-demand' });

const backend = createTestBackend();
let apiUrl: string;
const open: Device[] = [];

const monday = new Date('2026-11-30T09:00:00.000Z');
const tuesday = new Date('2026-12-01T09:00:00.000Z');

beforeAll(async () => {
  const server = await backend.start({ resources: [{ name: 'events' }] });
  apiUrl = server.apiUrl;
  const alice = api(apiUrl);
  // Alternating days: the first page of the whole order holds one row of each.
  for (let i = 0; i < 6; i++) {
    const due = (i % 2 === 0 ? monday : tuesday).toJSON();
    expect((await alice.create('events', { id: `e${i}`, title: `T${i}`, due })).status).toBe(201);
  }
});
afterAll(() => backend.close());
afterEach(() => closeDevices(open));

describe('a Date in an on-demand query', () => {
  it('is pushed to the server as the ISO text it is stored as: the page holds the rows equal to it', async () => {
    const d = device(apiUrl, { resources: [events] });
    open.push(d);
    const states: Array<QueryState<Event>> = [];
    d.client.resource(events).query$({ where: { due: tuesday }, orderBy: 'title', limit: 2 }).subscribe((s) => states.push(s));
    await until(() => states.at(-1)!.status === 'success' && !states.at(-1)!.isFetching, 'the first page');
    expect(d.calls).toEqual([`GET /api/events?${new URLSearchParams({ 'filter[due]': tuesday.toJSON(), sort: 'title,id', limit: '2' })}`]);
    expect(states.at(-1)!.data.map((e) => e.id)).toEqual(['e1', 'e3']);
    expect(states.at(-1)!.data[0]!.due).toEqual(tuesday);
    expect(states.at(-1)!.hasMore).toBe(true);
  });
});
