// One tab of the multi-tab suite: the script-tag build with no injected seams, so the real
// navigator.locks, BroadcastChannel, indexedDB and online/offline events are what it uses.
// The test drives it through `window.tab` and reads what it shows from there.
const { createSyncClient, defineResource, z } = window.HarborSync;

const todos = defineResource({
  name: 'todos',
  schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
  delta: true,
});
const client = createSyncClient({
  baseUrl: `${location.origin}/api`,
  resources: [todos],
  namespace: 'tabs',
  auth: { getToken: () => 'demo-alice' },
  retry: { baseDelayMs: 200, maxDelayMs: 1000 },
});
const handle = client.resource(todos);

const tab = {
  status: null,
  view: [],
  pendingIds: [],
  queryStatus: 'loading',
  events: [],
  errors: [],
  create: (todo) => handle.create(todo).then(() => true),
  update: (id, patch) => handle.update(id, patch).then(() => true),
  createAndWait: (todo) => handle.create(todo, { wait: 'server' }),
  close: () => client.close(),
  clear: () => client.clear(),
};
window.tab = tab;

client.status$.subscribe((s) => {
  tab.status = { ...s, lastError: s.lastError ? String(s.lastError) : null };
});
client.events$.subscribe((e) => {
  tab.events.push({ type: e.type, id: e.id, seq: e.seq, leader: e.leader, at: Date.now() });
  if (e.error && e.type !== 'retrying') tab.errors.push(`${e.type}: ${e.error}`);
});
handle.query$({ orderBy: 'title' }).subscribe((state) => {
  tab.view = state.data;
  tab.pendingIds = [...state.pendingIds];
  tab.queryStatus = state.status;
  document.getElementById('todos').replaceChildren(
    ...state.data.map((todo) => {
      const item = document.createElement('li');
      item.textContent = `${todo.done ? '[x]' : '[ ]'} ${todo.title}`;
      return item;
    }),
  );
});
