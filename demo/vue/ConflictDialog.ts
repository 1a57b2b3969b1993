import { defineComponent, h, onMounted, ref } from 'vue';
import type { PropType } from 'vue';
import { useConflicts } from 'harborsync/vue';
import type { Conflict, ConflictChoice, Entity } from 'harborsync';
import kit from '../shared/kit.js';
import type { ConflictRow } from '../shared/kit.js';

type Side = 'mine' | 'theirs' | 'custom';
type Picks = Record<string, { side: Side; value: unknown }>;

export function conflictKey(conflict: Conflict): string {
  return `${conflict.resource}/${conflict.id}/${String(conflict.remote?.['version'] ?? 'gone')}/${JSON.stringify(conflict.local)}`;
}

/** One conflict at a time, with the base, mine and theirs of every field and three ways out. */
export const ConflictDialog = defineComponent({
  name: 'ConflictDialog',
  props: { hidden: { type: String as PropType<string | null>, default: null } },
  emits: { later: (key: string) => typeof key === 'string' },
  setup(props, { emit }) {
    const conflicts = useConflicts();
    return () => {
      const conflict = conflicts.value[0];
      if (!conflict) return null;
      const key = conflictKey(conflict);
      if (props.hidden === key) return null;
      // A new conflict (or a new remote version of it) starts from fresh picks.
      return h(Dialog, { key, conflict, total: conflicts.value.length, onLater: () => emit('later', key) });
    };
  },
});

const Dialog = defineComponent({
  name: 'ConflictDialogBody',
  props: {
    conflict: { type: Object as PropType<Conflict>, required: true },
    total: { type: Number, required: true },
  },
  emits: ['later'],
  setup(props, { emit }) {
    const rows = kit.conflictRows(props.conflict);
    const picks = ref<Picks>(
      Object.fromEntries(rows.filter((row) => row.conflicting).map((row) => [row.field, { side: 'mine' as Side, value: row.mine }])),
    );
    const busy = ref(false);
    const error = ref('');
    // A modal dialog takes the focus, or Tab walks the page behind it.
    const box = ref<HTMLElement | null>(null);
    onMounted(() => box.value?.focus());

    const resolve = (choice: ConflictChoice<Entity>) => {
      busy.value = true;
      error.value = '';
      props.conflict.resolve(choice).catch((reason: unknown) => {
        busy.value = false;
        error.value = reason instanceof Error ? reason.message : String(reason);
      });
    };
    const pick = (row: ConflictRow, side: Side, value: unknown) => {
      picks.value = { ...picks.value, [row.field]: { side, value } };
    };

    const resultCell = (row: ConflictRow, both: boolean) => {
      if (!row.conflicting || !both) {
        return h('td', { class: 'auto' }, both ? `${kit.show(row.merged)} · ${kit.mergeNote(row)}` : '—');
      }
      const current = picks.value[row.field];
      const textual = typeof row.mine === 'string' || typeof row.theirs === 'string';
      return h('td', [
        h('div', { class: 'result-cell' }, [
          h(
            'div',
            { class: 'seg', role: 'group', 'aria-label': `Result for ${row.field}` },
            (['mine', 'theirs'] as const).map((side) =>
              h(
                'button',
                {
                  key: side,
                  type: 'button',
                  'data-testid': `pick-${row.field}-${side}`,
                  'aria-pressed': String(current?.side === side),
                  onClick: () => pick(row, side, side === 'mine' ? row.mine : row.theirs),
                },
                side === 'mine' ? 'Mine' : 'Theirs',
              ),
            ),
          ),
          textual
            ? h('input', {
                class: 'input',
                'data-testid': `merged-${row.field}`,
                'aria-label': `Merged ${row.field}`,
                value: String(current?.value ?? ''),
                onInput: (event: Event) => {
                  const value = (event.target as HTMLInputElement).value;
                  pick(row, value === row.mine ? 'mine' : value === row.theirs ? 'theirs' : 'custom', value);
                },
              })
            : null,
        ]),
      ]);
    };

    return () => {
      const conflict = props.conflict;
      const both = conflict.local !== null && conflict.remote !== null;
      const heading = kit.conflictTitle(conflict);
      const blank = Object.values(picks.value).some((p) => typeof p.value === 'string' && p.value.trim() === '');
      const merged = () => Object.fromEntries(Object.entries(picks.value).map(([field, p]) => [field, p.value]));
      const sideClass = (row: ConflictRow, side: 'mine' | 'theirs') =>
        row.changedBy === side || row.changedBy === 'both' ? `side-${side}` : undefined;

      return h('div', { class: 'modal-backdrop' }, [
        h(
          'div',
          {
            ref: box,
            tabindex: -1,
            class: 'modal',
            role: 'dialog',
            'aria-modal': 'true',
            'aria-labelledby': 'conflict-title',
            'data-testid': 'conflict-dialog',
            'data-id': conflict.id,
            onKeydown: (event: KeyboardEvent) => event.key === 'Escape' && emit('later'),
          },
          [
            h('header', [
              h('span', { class: 'badge conflict' }, `Conflict 1 of ${props.total}`),
              h('h2', { id: 'conflict-title' }, heading.title),
              h('p', heading.text),
            ]),
            h('div', { class: 'diff-wrap' }, [
              h('table', { class: 'diff' }, [
                h('thead', [h('tr', ['Field', 'Before', 'Mine', 'Theirs', 'Result'].map((label) => h('th', label)))]),
                h(
                  'tbody',
                  rows.map((row) =>
                    h('tr', { key: row.field, class: row.conflicting ? 'is-conflict' : undefined, 'data-field': row.field }, [
                      h('th', { scope: 'row' }, row.field),
                      h('td', { 'data-testid': `base-${row.field}` }, kit.show(row.base)),
                      h('td', { class: sideClass(row, 'mine'), 'data-testid': `mine-${row.field}` }, conflict.local ? kit.show(row.mine) : 'deleted'),
                      h('td', { class: sideClass(row, 'theirs'), 'data-testid': `theirs-${row.field}` }, conflict.remote ? kit.show(row.theirs) : 'deleted'),
                      resultCell(row, both),
                    ]),
                  ),
                ),
              ]),
            ]),
            error.value ? h('p', { class: 'hint error', role: 'alert' }, error.value) : null,
            h('footer', { class: 'modal-actions' }, [
              h('button', { type: 'button', class: 'btn', 'data-testid': 'conflict-later', disabled: busy.value, onClick: () => emit('later') }, 'Decide later'),
              h(
                'button',
                { type: 'button', class: 'btn', 'data-testid': 'keep-mine', disabled: busy.value, onClick: () => resolve('local') },
                conflict.remote ? 'Keep mine' : 'Keep mine (re-create)',
              ),
              h(
                'button',
                { type: 'button', class: 'btn', 'data-testid': 'take-theirs', disabled: busy.value, onClick: () => resolve('remote') },
                conflict.remote ? 'Take theirs' : 'Accept the delete',
              ),
              both
                ? h(
                    'button',
                    {
                      type: 'button',
                      class: 'btn primary',
                      'data-testid': 'use-merged',
                      disabled: busy.value || blank,
                      onClick: () => resolve({ value: merged() }),
                    },
                    'Save merged',
                  )
                : null,
            ]),
            h('p', { class: 'modal-note' }, 'Until you decide, your version stays on screen and nothing about this todo is sent.'),
          ],
        ),
      ]);
    };
  },
});
