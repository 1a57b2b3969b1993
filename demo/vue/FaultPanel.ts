import { computed, defineComponent, h, onScopeDispose, ref, watch } from 'vue';
import { useQuery, useSyncClient } from 'harborsync/vue';
import kit from '../shared/kit.js';
import type { Faults } from '../shared/kit.js';
import { todos } from './todos.js';

/** The browser's own online flag (the fault switch is on the server: it needs the network). */
function useBrowserOnline() {
  const online = ref(navigator.onLine);
  const update = () => (online.value = navigator.onLine);
  window.addEventListener('online', update);
  window.addEventListener('offline', update);
  onScopeDispose(() => {
    window.removeEventListener('online', update);
    window.removeEventListener('offline', update);
  });
  return online;
}

/** The server's fault switch: it breaks the demo server for all three apps. */
export const FaultPanel = defineComponent({
  name: 'FaultPanel',
  setup() {
    const client = useSyncClient();
    const query = useQuery(todos, { orderBy: 'id' });
    const online = useBrowserOnline();
    const faults = ref<Faults | null>(null);
    const hint = ref<{ text: string; error?: boolean }>({ text: 'Pause sync, rename a todo, then rename it here too: a conflict.' });
    const target = ref('');
    // What the user typed; null: the suggestion, which follows the chosen todo's title.
    const typed = ref<string | null>(null);

    const load = () => {
      if (!navigator.onLine) return;
      kit.admin.faults().then(
        (value) => (faults.value = value),
        (error: Error) => (hint.value = { text: `The fault switch did not answer: ${error.message}`, error: true }),
      );
    };
    load();
    watch(online, (now) => now && load());
    onScopeDispose(kit.everyFewSeconds(load));

    // The chosen todo: the first one until the user picks another (or it disappears).
    const chosen = computed(() => query.value.data.find((todo) => todo.id === target.value) ?? query.value.data[0]);
    const title = computed(() => typed.value ?? (chosen.value ? kit.otherTitle(chosen.value.title) : ''));

    const change = (action: () => Promise<Faults>, text?: string) => {
      if (text) hint.value = { text };
      action().then(
        (value) => (faults.value = value),
        (error: Error) => (hint.value = { text: error.message, error: true }),
      );
    };

    const editAsOther = (event: Event) => {
      event.preventDefault();
      const todo = chosen.value;
      const text = title.value.trim();
      if (!todo || !text) return;
      const pending = query.value.pendingIds.has(todo.id);
      kit.admin
        .editAsOther(todo.id, { title: text })
        .then(() => {
          hint.value = {
            text: pending
              ? `${kit.OTHER_USER} renamed it on the server. You have an unsent change to it: the two meet when yours is sent.`
              : `${kit.OTHER_USER} renamed it on the server.`,
          };
          typed.value = '';
          // A pull the fault switch fails is tried again every few seconds: it says nothing of the rename.
          return client.resource(todos).refresh().catch(() => {});
        })
        .catch((error: Error) => (hint.value = { text: error.message, error: true }));
    };

    return () => {
      const settings = faults.value;
      const disabled = !online.value || !settings;
      const data = query.value.data;
      const latency = kit.LATENCIES.some((option) => option.value === settings?.latencyMs) ? settings?.latencyMs : 0;
      return h('section', { class: 'card', 'data-testid': 'fault-panel' }, [
        h('h2', ['Fault switch ', kit.faultsActive(settings) ? h('span', { class: 'badge warn' }, 'on') : null]),
        h('p', { class: 'hint' }, 'Breaks the demo server for all three apps.'),
        h('div', { class: 'fault-group' }, [
          h('label', { class: 'field-row' }, [
            h('span', 'Server unreachable'),
            h('input', {
              type: 'checkbox',
              'data-testid': 'fault-offline',
              disabled,
              checked: settings?.offline ?? false,
              onChange: (event: Event) => change(() => kit.admin.setFaults({ offline: (event.target as HTMLInputElement).checked })),
            }),
          ]),
          h('label', { class: 'field-row' }, [
            h('span', 'Latency'),
            h(
              'select',
              {
                'data-testid': 'fault-latency',
                disabled,
                value: String(latency),
                onChange: (event: Event) => change(() => kit.admin.setFaults({ latencyMs: Number((event.target as HTMLSelectElement).value) })),
              },
              kit.LATENCIES.map((option) => h('option', { key: option.value, value: String(option.value) }, option.label)),
            ),
          ]),
          h('label', { class: 'field-row' }, [
            h('span', 'Errors'),
            h(
              'select',
              {
                'data-testid': 'fault-errors',
                disabled,
                value: String(kit.errorRateOf(settings)),
                onChange: (event: Event) =>
                  change(() => kit.admin.setFaults({ errorRate: Number((event.target as HTMLSelectElement).value), errorStatus: 503 })),
              },
              [
                ...kit.ERROR_RATES.map((option) => h('option', { key: option.value, value: String(option.value) }, option.label)),
                h('option', { key: 'custom', value: '-1', hidden: true }, 'custom'),
              ],
            ),
          ]),
          h('div', { class: 'actions' }, [
            h(
              'button',
              {
                class: 'btn small',
                type: 'button',
                'data-testid': 'fault-reject',
                disabled,
                onClick: () => change(() => kit.admin.rejectNextWrite(), 'The server will answer the next write with 422: make a change.'),
              },
              'Reject next write',
            ),
            h(
              'button',
              {
                class: 'btn small',
                type: 'button',
                'data-testid': 'fault-clear',
                disabled: !online.value,
                onClick: () => change(() => kit.admin.clearFaults(), 'Every fault is off.'),
              },
              'All off',
            ),
          ]),
        ]),
        h('form', { class: 'other-user', onSubmit: editAsOther }, [
          h('h3', 'Edit as another user'),
          h(
            'select',
            {
              'data-testid': 'other-todo',
              'aria-label': 'Todo to change',
              disabled: disabled || data.length === 0,
              value: chosen.value?.id ?? '',
              onChange: (event: Event) => {
                const id = (event.target as HTMLSelectElement).value;
                target.value = id;
                typed.value = null;
              },
            },
            data.length === 0
              ? [h('option', { value: '' }, 'No todos yet')]
              : data.map((todo) => h('option', { key: todo.id, value: todo.id }, todo.title)),
          ),
          h('input', {
            class: 'input',
            'data-testid': 'other-title',
            'aria-label': 'New title',
            placeholder: 'New title on the server',
            autocomplete: 'off',
            disabled,
            value: title.value,
            onInput: (event: Event) => (typed.value = (event.target as HTMLInputElement).value),
          }),
          h('button', { class: 'btn small', type: 'submit', 'data-testid': 'other-edit', disabled: disabled || !chosen.value }, `Rename it as ${kit.OTHER_USER}`),
          h(
            'p',
            { class: ['hint', { error: hint.value.error && online.value }] },
            online.value ? hint.value.text : 'The fault switch lives on the server: it needs the network.',
          ),
        ]),
      ]);
    };
  },
});
