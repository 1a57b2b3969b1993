import * as z from 'zod';
import { createSyncClient, defineResource } from 'harborsync';
import type { EntityOf } from 'harborsync';
import kit from '../shared/kit.js';

export const todos = defineResource({
  name: 'todos',
  schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
  delta: true, // the reference server serves GET /api/todos?since=<cursor>
});

export type Todo = EntityOf<typeof todos>;

export const client = createSyncClient({
  baseUrl: kit.apiUrl(), // http://<this origin>/api
  resources: [todos],
  namespace: 'demo-vue', // this app's own IndexedDB database
  auth: { getToken: () => kit.TOKEN },
  // 'merge' (the default): a field only one side changed merges by itself; the conflict dialog
  // only opens when both sides changed the same field differently.
  conflicts: 'merge',
  retry: { baseDelayMs: 1000, maxDelayMs: 10_000 },
  staleTimeMs: 5_000,
});
