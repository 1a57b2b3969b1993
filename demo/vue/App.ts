import { computed, defineComponent, h, nextTick, onScopeDispose, ref } from 'vue';
import type { PropType, VNode } from 'vue';
import { useConflicts, useFailed, useQuery, useSyncClient, useSyncStatus } from 'harborsync/vue';
import type { FailedMutation } from 'harborsync';
import kit from '../shared/kit.js';
import type { ActivityEntry, FilterId } from '../shared/kit.js';
import { ConflictDialog, conflictKey } from './ConflictDialog.js';
import { FaultPanel } from './FaultPanel.js';
import { todos } from './todos.js';
import type { Todo } from './todos.js';

/** The current time, once a second: countdowns and "12 s ago". */
export function useNow() {
  const now = ref(Date.now());
  const timer = setInterval(() => (now.value = Date.now()), 1000);
  onScopeDispose(() => clearInterval(timer));
  return now;
}

/** Runs a write; shows its error (a ValidationError, a closed client) instead of losing it. */
function useWrite() {
  const error = ref('');
  const run = (write: () => Promise<unknown>) => {
    write().then(
      () => (error.value = ''),
      (reason: unknown) => (error.value = reason instanceof Error ? reason.message : String(reason)),
    );
  };
  return { error, run };
}

type Write = (write: () => Promise<unknown>) => void;

export const App = defineComponent({
  name: 'App',
  setup() {
    const client = useSyncClient();
    const conflicts = useConflicts();
    const hiddenConflict = ref<string | null>(null);
    // Only while the dialog put off is the one to show: a changed conflict opens by itself.
    const reviewable = computed(() => conflicts.value[0] !== undefined && conflictKey(conflicts.value[0]) === hiddenConflict.value);
    // Pull other people's changes every few seconds while the page is in front.
    onScopeDispose(kit.keepFresh(client, todos));
    return () =>
      h('div', { class: 'app', 'data-app': 'vue' }, [
        h(TopBar),
        h('main', { class: 'layout' }, [
          h('div', { class: 'main-col' }, [h(TodoCard), h(ActivityCard)]),
          h('aside', { class: 'side' }, [
            h(SyncPanel, { reviewable: reviewable.value, onReview: () => (hiddenConflict.value = null) }),
            h(FailedPanel),
            h(FaultPanel),
          ]),
        ]),
        h(ConflictDialog, { hidden: hiddenConflict.value, onLater: (key: string) => (hiddenConflict.value = key) }),
      ]);
  },
});

const TopBar = defineComponent({
  name: 'TopBar',
  setup() {
    const status = useSyncStatus();
    const now = useNow();
    return () => {
      const view = kit.describeStatus(status.value, now.value);
      return h('header', { class: 'topbar' }, [
        h('div', { class: 'topbar-inner' }, [
          h('a', { class: 'brand', href: '/' }, [
            h('span', { class: 'logo', 'aria-hidden': 'true' }, '⚓'),
            ' harborsync ',
            h('span', { class: 'brand-sub' }, 'demo'),
          ]),
          h('nav', { class: 'switcher', 'aria-label': 'The same app three ways' }, [
            h('a', { href: '/legacy/' }, 'Script tag'),
            h('a', { href: '/react/' }, 'React'),
            h('a', { href: '/vue/', 'aria-current': 'page' }, 'Vue'),
          ]),
          h('div', { class: 'status-pill', 'data-testid': 'status', 'data-state': view.state, role: 'status', title: view.detail }, [
            h('span', { class: 'dot', 'aria-hidden': 'true' }),
            h('span', view.label),
          ]),
        ]),
      ]);
    };
  },
});

const TodoCard = defineComponent({
  name: 'TodoCard',
  setup() {
    const client = useSyncClient();
    const query = useQuery(todos, { orderBy: 'id' });
    const filter = ref<FilterId>('all');
    const title = ref('');
    const { error: writeError, run: write } = useWrite();

    const add = (event: Event) => {
      event.preventDefault();
      const text = title.value.trim();
      if (!text) return;
      title.value = '';
      write(() => client.resource(todos).create({ id: kit.newId(), title: text, done: false }));
    };

    return () => {
      const { data, status, error, pendingIds, lastSyncedAt } = query.value;
      const counts = kit.counts(data);
      const shown = kit.filterTodos(data, filter.value);
      let empty = '';
      if (status === 'loading') empty = 'Loading…';
      else if (status === 'error' && data.length === 0) empty = `Could not load the todos: ${error?.message}`;
      // Never synced (opened offline): an empty cache says nothing about the server's todos.
      else if (data.length === 0 && lastSyncedAt === null) empty = 'Nothing loaded yet: the todos come from the server once it can be reached.';
      else if (data.length === 0) empty = 'Nothing to do yet. Add a todo above.';
      else if (shown.length === 0) empty = filter.value === 'done' ? 'Nothing done yet.' : 'All done. Nice.';

      return h('section', { class: 'card todos-card' }, [
        h('div', { class: 'card-head' }, [
          h('div', [
            h('h1', 'Todos'),
            h('p', { class: 'muted small' }, ['Vue · ', h('code', 'harborsync/vue'), ' · namespace ', h('code', 'demo-vue')]),
          ]),
        ]),
        h('form', { class: 'add-form', 'data-testid': 'add-form', onSubmit: add }, [
          h('label', { class: 'visually-hidden', for: 'new-title' }, 'New todo'),
          h('input', {
            class: 'input',
            id: 'new-title',
            'data-testid': 'new-title',
            placeholder: 'What needs doing?',
            autocomplete: 'off',
            maxlength: 200,
            value: title.value,
            onInput: (event: Event) => (title.value = (event.target as HTMLInputElement).value),
          }),
          h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'add' }, 'Add'),
        ]),
        writeError.value ? h('p', { class: 'hint error', role: 'alert' }, writeError.value) : null,
        h(
          'div',
          { class: 'filters', role: 'group', 'aria-label': 'Show' },
          kit.FILTERS.map((option) =>
            h(
              'button',
              {
                key: option.id,
                type: 'button',
                class: 'chip',
                'data-testid': `filter-${option.id}`,
                'aria-pressed': String(filter.value === option.id),
                onClick: () => (filter.value = option.id),
              },
              [option.label, ' ', h('span', { class: 'count' }, String(counts[option.id]))],
            ),
          ),
        ),
        shown.length > 0
          ? h(
              'ul',
              { class: 'todo-list', 'data-testid': 'todo-list' },
              shown.map((todo) => h(TodoRow, { key: todo.id, todo, pending: pendingIds.has(todo.id), write })),
            )
          : h('p', { class: 'empty', 'data-testid': 'empty' }, empty),
        h(
          'p',
          { class: 'list-foot muted' },
          'Click a title to rename it. Every change is saved on this device at once and sent when the server can be reached.',
        ),
      ]);
    };
  },
});

const TodoRow = defineComponent({
  name: 'TodoRow',
  props: {
    todo: { type: Object as PropType<Todo>, required: true },
    pending: { type: Boolean, required: true },
    write: { type: Function as PropType<Write>, required: true },
  },
  setup(props) {
    const handle = useSyncClient().resource(todos);
    const draft = ref<string | null>(null);
    const input = ref<HTMLInputElement | null>(null);
    const renameButton = ref<HTMLButtonElement | null>(null);

    const start = () => {
      draft.value = props.todo.title;
      void nextTick(() => input.value?.select());
    };
    const finish = (save: boolean) => {
      // Enter ends the edit and removes the input, and Chrome then fires blur on it: finish once.
      if (draft.value === null) return;
      const title = draft.value.trim();
      draft.value = null;
      if (save && title && title !== props.todo.title) props.write(() => handle.update(props.todo.id, { title }));
    };

    return () => {
      const { todo, pending } = props;
      const title: VNode =
        draft.value === null
          ? h('span', { class: 'todo-title', 'data-testid': 'title', title: 'Click to rename', onClick: start }, todo.title)
          : h('input', {
              ref: input,
              class: 'input edit-input',
              'data-testid': 'edit-input',
              'aria-label': 'Title',
              maxlength: 200,
              value: draft.value,
              onInput: (event: Event) => (draft.value = (event.target as HTMLInputElement).value),
              onKeydown: (event: KeyboardEvent) => {
                if (event.key !== 'Enter' && event.key !== 'Escape') return;
                event.preventDefault(); // else the Enter also presses the rename button the focus goes to
                finish(event.key === 'Enter');
                // The focus goes back to the rename button, not to the page's top.
                void nextTick(() => renameButton.value?.focus());
              },
              onBlur: () => finish(true),
            });
      return h('li', { class: ['todo', { 'is-done': todo.done, 'is-pending': pending }], 'data-testid': 'todo', 'data-id': todo.id }, [
        h('input', {
          type: 'checkbox',
          class: 'toggle',
          'data-testid': 'toggle',
          'aria-label': `Done: ${todo.title}`,
          checked: todo.done,
          onChange: () => props.write(() => handle.update(todo.id, { done: !todo.done })),
        }),
        title,
        pending
          ? h('span', { class: 'badge pending', 'data-testid': 'pending', title: 'Saved on this device, not yet confirmed by the server' }, 'not synced')
          : null,
        h('div', { class: 'row-actions' }, [
          h('button', { ref: renameButton, type: 'button', class: 'icon-btn', 'data-testid': 'edit', 'aria-label': `Rename ${todo.title}`, title: 'Rename', onClick: start }, '✎'),
          h(
            'button',
            {
              type: 'button',
              class: 'icon-btn danger',
              'data-testid': 'delete',
              'aria-label': `Delete ${todo.title}`,
              title: 'Delete',
              onClick: () => props.write(() => (kit.keepTitle(todo), handle.delete(todo.id))),
            },
            '✕',
          ),
        ]),
      ]);
    };
  },
});

const SyncPanel = defineComponent({
  name: 'SyncPanel',
  props: { reviewable: { type: Boolean, required: true } },
  emits: ['review'],
  setup(props, { emit }) {
    const client = useSyncClient();
    const status = useSyncStatus();
    const now = useNow();
    return () => {
      const s = status.value;
      const view = kit.describeStatus(s, now.value);
      const error = kit.errorToShow(s, view.state);
      const fact = (label: string, value: string | number, testid?: string) =>
        h('div', [h('dt', label), h('dd', testid ? { 'data-testid': testid } : null, String(value))]);
      return h('section', { class: 'card', 'data-testid': 'sync-panel' }, [
        h('h2', 'Sync'),
        h('dl', { class: 'facts' }, [
          fact('Network', s.online ? 'online' : 'offline'),
          fact('Pending', s.pending, 'pending-count'),
          fact('Sending', s.syncing ? 'now' : 'idle'),
          fact('Paused', s.paused ?? 'no'),
          fact('Next retry', kit.nextRetry(s, now.value), 'next-retry'),
          fact('Last synced', s.lastSyncedAt ? kit.ago(s.lastSyncedAt, now.value) : 'not yet'),
          fact('Conflicts', s.conflicts),
          fact('Failed', s.failed),
        ]),
        h('p', { class: 'status-detail' }, view.detail),
        error ? h('p', { class: 'last-error' }, `Last error: ${error.message}`) : null,
        h('div', { class: 'actions' }, [
          h(
            'button',
            { class: 'btn small', type: 'button', 'data-testid': 'pause', onClick: () => (s.paused === 'manual' ? client.resume() : client.pause()) },
            s.paused === 'manual' ? 'Resume sync' : 'Pause sync',
          ),
          h(
            'button',
            {
              class: 'btn small',
              type: 'button',
              'data-testid': 'sync-now',
              onClick: () => void kit.syncNow(client, todos),
            },
            'Sync now',
          ),
          props.reviewable
            ? h('button', { class: 'btn small', type: 'button', 'data-testid': 'review-conflicts', onClick: () => emit('review') }, 'Review conflicts')
            : null,
        ]),
      ]);
    };
  },
});

const FailedPanel = defineComponent({
  name: 'FailedPanel',
  setup() {
    const failed = useFailed();
    const query = useQuery(todos, { orderBy: 'id' });
    const { error, run } = useWrite();
    const titles = computed(() => new Map(query.value.data.map((todo) => [todo.id, todo.title])));
    const titleOf = (item: FailedMutation) => {
      const payload = item.payload as { title?: unknown } | null;
      return titles.value.get(item.id) ?? (typeof payload?.title === 'string' ? payload.title : undefined);
    };
    return () =>
      h('section', { class: 'card', 'data-testid': 'failed-panel' }, [
        h('h2', ['Failed changes ', h('span', { class: 'count' }, String(failed.value.length))]),
        failed.value.length === 0
          ? h('p', { class: 'none' }, 'None. A change the server rejects waits here — undone on screen — until you retry or discard it.')
          : h(
              'ul',
              { class: 'failed-list' },
              failed.value.map((item) => {
                const text = kit.describeFailed(item, titleOf(item));
                return h('li', { key: `${item.resource}/${item.id}/${item.op}`, 'data-testid': 'failed-item' }, [
                  h('div', [h('strong', text.what), h('span', text.why)]),
                  h('div', { class: 'actions' }, [
                    h('button', { type: 'button', class: 'btn small', 'data-testid': 'retry', onClick: () => run(() => item.retry()) }, 'Retry'),
                    h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'discard', onClick: () => run(() => item.discard()) }, 'Discard'),
                  ]),
                ]);
              }),
            ),
        error.value ? h('p', { class: 'hint error', role: 'alert' }, error.value) : null,
      ]);
  },
});

/** What the client does, from its events$: saved, sent, confirmed, retried, conflicted. */
const ActivityCard = defineComponent({
  name: 'ActivityCard',
  setup() {
    const client = useSyncClient();
    const query = useQuery(todos, { orderBy: 'id' });
    const titles = kit.titleMemory(); // names for the log, deleted todos included
    const entries = ref<ActivityEntry[]>([]);
    onScopeDispose(kit.followActivity(client, (list) => (entries.value = list)));
    return () => {
      titles.remember(query.value.data);
      return h('section', { class: 'card', 'data-testid': 'activity-panel' }, [
        h('h2', 'Activity'),
        entries.value.length === 0
          ? h('p', { class: 'none' }, 'What the client does shows up here: each change saved, sent and confirmed — once.')
          : h(
              'ol',
              { class: 'activity' },
              entries.value.map((entry) => {
                const line = kit.describeEvent(entry.event, titles.titleOf);
                return h('li', { key: entry.key, 'data-tone': line?.tone }, [
                  h('time', entry.at),
                  h('span', { class: 'tone', 'aria-hidden': 'true' }),
                  h('span', line?.text),
                ]);
              }),
            ),
      ]);
    };
  },
});
