// A page whose API is on another origin (the address in ?api=), as behind a CDN: the script-tag
// build with no injected seams, so the browser's own fetch and HTTP cache are what it uses.
const { createSyncClient, defineResource, z } = window.HarborSync;

const params = new URLSearchParams(location.search);
let token = 'T';
const todos = defineResource({
  name: 'todos',
  schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number() }),
  delta: params.get('delta') === '1',
});
const client = createSyncClient({
  baseUrl: params.get('api'),
  resources: [todos],
  namespace: 'http-cache',
  auth: { getToken: () => token },
});
const handle = client.resource(todos);
const shown = async () => (await handle.list({ orderBy: 'id' })).map((todo) => `${todo.id}:${todo.title}`);

window.app = {
  /** Pulls, then what the page shows. */
  refresh: async () => {
    await handle.refresh();
    return shown();
  },
  create: (todo) => handle.create(todo, { wait: 'server' }),
  remove: (id) => handle.delete(id, { wait: 'server' }).then(() => true),
  /** A logout, then another user signing in on the same browser. */
  switchUser: async (next) => {
    await client.clear();
    token = next;
  },
};
