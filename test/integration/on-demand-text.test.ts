// Text in an on-demand query's order, against the reference server: both order strings by code
// point, so a page's range of the sort order holds the rows the server put in it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestBackend } from '../../server/index.mjs';
import { defineResource, type QueryState } from '../../src/index.js';
import { api } from '../server/api.js';
import { closeDevices, device, until, type Device } from '../helpers/harness.js';

const noteSchema = z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() });
type Note = z.infer<typeof noteSchema>;
const notes = defineResource({ name: 'notes', schema: noteSchema, load: 'on-demand' });

const backend = createTestBackend();
let apiUrl: string;
const open: Device[] = [];

beforeAll(async () => {
  const server = await backend.start({ resources: [{ name: 'notes' }] });
  apiUrl = server.apiUrl;
  const alice = api(apiUrl);
  // An emoji (past U+FFFF) sorts after a fullwidth tilde (U+FF5E) by code point, before it by UTF-16 unit.
  for (const [id, title, done] of [['party', '\u{1F600} party', true], ['wave', '\uFF5E wave', false], ['plain', 'a', false]] as const) {
    expect((await alice.create('notes', { id, title, done })).status).toBe(201);
  }
});
afterAll(() => backend.close());
afterEach(() => closeDevices(open));

const settled = (states: Array<QueryState<Note>>) => states.at(-1)!.status === 'success' && !states.at(-1)!.isFetching;

describe('text in an on-demand order', () => {
  it('a page ordered by a title holding characters past U+FFFF leaves a cached row after its range in place: not taken for deleted, still shown by another query', async () => {
    const d = device(apiUrl, { resources: [notes] });
    open.push(d);
    const h = d.client.resource(notes);
    const done: Array<QueryState<Note>> = [];
    h.query$({ where: { done: true } }).subscribe((s) => done.push(s));
    await until(() => settled(done), 'the done notes');
    expect(done.at(-1)!.data.map((n) => n.id)).toEqual(['party']);

    const byTitle: Array<QueryState<Note>> = [];
    h.query$({ orderBy: 'title', limit: 2 }).subscribe((s) => byTitle.push(s));
    await until(() => settled(byTitle), 'the first page by title');
    expect(byTitle.at(-1)!.data.map((n) => n.id)).toEqual(['plain', 'wave']);
    expect(byTitle.at(-1)!.hasMore).toBe(true);
    expect(done.at(-1)!.data.map((n) => n.id)).toEqual(['party']);
    expect(await h.get('party')).toMatchObject({ title: '\u{1F600} party' });
  });
});
