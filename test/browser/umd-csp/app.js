// A page without a build step: HarborSync and its z from the script tag, data from the test server.
// It reads the list, shows it, creates one todo and completes another, then publishes the outcome.
const { createSyncClient, defineResource, z } = window.HarborSync;

const todos = defineResource({
  name: 'todos',
  schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
  delta: true,
});
const client = createSyncClient({
  baseUrl: `${location.origin}/api`,
  resources: [todos],
  namespace: 'umd-csp',
  auth: { getToken: () => 'demo-alice' },
});
const handle = client.resource(todos);

/** The first state the predicate accepts. */
function first(state$, accept) {
  return new Promise((resolve, reject) => {
    const subscription = state$.subscribe({
      next: (state) => {
        if (!accept(state)) return;
        resolve(state);
        queueMicrotask(() => subscription.unsubscribe());
      },
      error: reject,
    });
  });
}

handle.query$({ orderBy: 'title' }).subscribe((state) => {
  const list = document.getElementById('todos');
  list.replaceChildren(
    ...state.data.map((todo) => {
      const item = document.createElement('li');
      item.textContent = `${todo.done ? '[x]' : '[ ]'} ${todo.title}`;
      return item;
    }),
  );
});

async function main() {
  const loaded = await first(handle.query$({ orderBy: 'title' }), (s) => s.status === 'success' && s.lastSyncedAt !== null);
  const created = await handle.create({ title: 'Written by the page', done: false }, { wait: 'server' });
  const completed = await handle.update(loaded.data[0].id, { done: true }, { wait: 'server' });
  const settled = await first(client.status$, (s) => s.pending === 0);
  window.outcome = { read: loaded.data, created, completed, pending: settled.pending, online: settled.online };
}

main().catch((error) => {
  window.outcome = { error: String(error && error.stack ? error.stack : error) };
});
