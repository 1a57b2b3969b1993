/*
 * The todo app as a legacy page would write it: window.HarborSync from one <script> tag, the
 * schema in HarborSync.z, plain DOM code. No bundler, no framework, nothing to build.
 * (window.HarborDemo is the demo's own helpers: the fault switch, words for the status.)
 */
(function () {
  'use strict';

  const { createSyncClient, defineResource, z } = window.HarborSync;
  const kit = window.HarborDemo;

  // ---- harborsync: one resource, one client --------------------------------------------

  const todos = defineResource({
    name: 'todos',
    schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
    delta: true, // the reference server serves GET /api/todos?since=<cursor>
  });

  const client = createSyncClient({
    baseUrl: kit.apiUrl(), // http://<this origin>/api
    resources: [todos],
    namespace: 'demo-legacy', // this app's own IndexedDB database
    auth: { getToken: () => kit.TOKEN },
    // 'merge' (the default): a field only one side changed merges by itself; the dialog below
    // only opens when both sides changed the same field differently.
    conflicts: 'merge',
    retry: { baseDelayMs: 1000, maxDelayMs: 10_000 },
    staleTimeMs: 5_000,
  });
  const todoList = client.resource(todos);

  // ---- state ----------------------------------------------------------------------------

  const state = {
    query: null, // QueryState<Todo>: data, status, pendingIds…
    status: null, // SyncStatus
    conflicts: [],
    failed: [],
    faults: null,
    filter: 'all',
    editing: null, // { id, draft }
    conflict: { key: null, picks: {}, busy: false, error: '', hidden: null },
  };

  const $ = (id) => document.getElementById(id);
  let rendering = false;
  let rows = new Map(); // todo id -> { key, node }: the rows on screen, by what they show
  let shownFilters = ''; // the filter chips on screen, by what they show
  let failedShown = { list: null, texts: '' }; // the failed list on screen
  let otherTitleTyped = false; // the other user's title typed, not the suggestion that follows the chosen todo

  /** document.createElement with attributes, properties (checked, value…), listeners (onclick) and children. */
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'class') node.className = value;
      else if (key === 'checked' || key === 'value' || key === 'disabled' || key === 'selected') node[key] = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  /** Shows a write that did not happen (a ValidationError, a closed client). */
  function notice(error) {
    const node = $('notice');
    node.textContent = error ? (error.message || String(error)) : '';
    node.hidden = !error;
  }
  const write = (promise) => promise.then(() => notice(null), notice);

  // ---- the todo list --------------------------------------------------------------------

  $('add-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('new-title');
    const title = input.value.trim();
    if (!title) return;
    input.value = '';
    write(todoList.create({ id: kit.newId(), title, done: false }));
  });

  function startEdit(todo) {
    state.editing = { id: todo.id, draft: todo.title, focus: true };
    renderList();
  }

  function finishEdit(save) {
    const editing = state.editing;
    if (!editing) return;
    state.editing = null;
    const todo = state.query && state.query.data.find((t) => t.id === editing.id);
    const title = editing.draft.trim();
    if (save && todo && title && title !== todo.title) write(todoList.update(todo.id, { title }));
    renderList();
  }

  function todoRow(todo, pending) {
    const editing = state.editing && state.editing.id === todo.id;
    const title = editing
      ? h('input', {
          class: 'input edit-input',
          'data-testid': 'edit-input',
          'aria-label': 'Title',
          value: state.editing.draft,
          maxlength: 200,
          oninput: (event) => (state.editing.draft = event.target.value),
          onkeydown: (event) => {
            if (event.key !== 'Enter' && event.key !== 'Escape') return;
            event.preventDefault(); // else the Enter also presses the rename button the focus goes to
            finishEdit(event.key === 'Enter');
          },
          onblur: () => {
            if (!rendering) finishEdit(true);
          },
        })
      : h('span', { class: 'todo-title', 'data-testid': 'title', title: 'Click to rename', onclick: () => startEdit(todo) }, todo.title);
    return h(
      'li',
      { class: `todo${todo.done ? ' is-done' : ''}${pending ? ' is-pending' : ''}`, 'data-testid': 'todo', 'data-id': todo.id },
      h('input', {
        type: 'checkbox',
        class: 'toggle',
        'data-testid': 'toggle',
        'aria-label': `Done: ${todo.title}`,
        checked: todo.done,
        onchange: () => write(todoList.update(todo.id, { done: !todo.done })),
      }),
      title,
      pending ? h('span', { class: 'badge pending', 'data-testid': 'pending', title: 'Saved on this device, not yet confirmed by the server' }, 'not synced') : null,
      h(
        'div',
        { class: 'row-actions' },
        h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'edit', 'aria-label': `Rename ${todo.title}`, title: 'Rename', onclick: () => startEdit(todo) }, '✎'),
        h('button', { type: 'button', class: 'icon-btn danger', 'data-testid': 'delete', 'aria-label': `Delete ${todo.title}`, title: 'Delete', onclick: () => (kit.keepTitle(todo), write(todoList.delete(todo.id))) }, '✕'),
      ),
    );
  }

  function renderList() {
    const query = state.query;
    const all = query ? query.data : [];
    const counts = kit.counts(all);
    // Buttons that would look the same stay in place (each pull re-renders): a press survives it.
    const filters = JSON.stringify([state.filter, counts]);
    if (filters !== shownFilters) {
      shownFilters = filters;
      // The chip pressed from the keyboard keeps the focus in its new self.
      const focusedChip = $('filters').contains(document.activeElement) ? document.activeElement.dataset.testid : null;
      $('filters').replaceChildren(
        ...kit.FILTERS.map((filter) =>
          h(
            'button',
            {
              type: 'button',
              class: 'chip',
              'data-testid': `filter-${filter.id}`,
              'aria-pressed': String(state.filter === filter.id),
              onclick: () => {
                state.filter = filter.id;
                renderList();
              },
            },
            filter.label,
            h('span', { class: 'count' }, String(counts[filter.id])),
          ),
        ),
      );
      if (focusedChip) $('filters').querySelector(`[data-testid="${focusedChip}"]`).focus();
    }

    // Keep the caret where it was when a sync re-renders the row being edited.
    const active = document.activeElement;
    const caret = active && active.dataset && active.dataset.testid === 'edit-input' ? [active.selectionStart, active.selectionEnd] : null;
    // A row drawn again keeps the focus on the same control (a rename ended with Enter or Escape:
    // on its rename button), so a keyboard user is not sent back to the top of the page.
    const focusedRow = active && active.closest('#todo-list > li');
    const refocus = focusedRow && { id: focusedRow.dataset.id, testid: active.dataset.testid === 'edit-input' ? 'edit' : active.dataset.testid };

    const shown = kit.filterTodos(all, state.filter);
    // A row that did not change keeps its node, where it is: a click pressed on it survives the
    // re-render that the press itself caused by ending a rename (blur saves it).
    const kept = rows;
    rows = new Map();
    const nodes = shown.map((todo) => {
      const pending = query.pendingIds.has(todo.id);
      const key = state.editing && state.editing.id === todo.id ? null : JSON.stringify([todo, pending]);
      const old = kept.get(todo.id);
      const node = key !== null && old && old.key === key ? old.node : todoRow(todo, pending);
      rows.set(todo.id, { key, node });
      return node;
    });
    const list = $('todo-list');
    const keep = new Set(nodes);
    // Chrome fires blur on an input it removes: that one is a re-render, not the user leaving.
    rendering = true;
    for (const child of [...list.children]) if (!keep.has(child)) child.remove();
    nodes.forEach((node, i) => {
      if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
    });
    rendering = false;
    $('todo-list').hidden = shown.length === 0;
    const empty = $('empty');
    empty.hidden = shown.length > 0;
    if (!query || query.status === 'loading') empty.textContent = 'Loading…';
    else if (query.status === 'error' && all.length === 0) empty.textContent = `Could not load the todos: ${query.error.message}`;
    // Never synced (opened offline): an empty cache says nothing about the server's todos.
    else if (all.length === 0 && query.lastSyncedAt === null) empty.textContent = 'Nothing loaded yet: the todos come from the server once it can be reached.';
    else if (all.length === 0) empty.textContent = 'Nothing to do yet. Add a todo above.';
    else empty.textContent = state.filter === 'done' ? 'Nothing done yet.' : 'All done. Nice.';

    const input = document.querySelector('[data-testid="edit-input"]');
    if (input && (caret || state.editing.focus)) {
      input.focus();
      if (caret) input.setSelectionRange(caret[0], caret[1]);
      else input.select();
      state.editing.focus = false;
    } else if (refocus && !focusedRow.isConnected && rows.has(refocus.id)) {
      const control = rows.get(refocus.id).node.querySelector(`[data-testid="${refocus.testid}"]`);
      if (control) control.focus();
    }
    renderOtherTodos();
  }

  // ---- sync status ----------------------------------------------------------------------

  function renderStatus() {
    const status = state.status;
    if (!status) return;
    const now = Date.now();
    const view = kit.describeStatus(status, now);
    $('status').dataset.state = view.state;
    $('status').title = view.detail;
    $('status-label').textContent = view.label;
    $('status-detail').textContent = view.detail;
    $('fact-network').textContent = status.online ? 'online' : 'offline';
    $('fact-pending').textContent = String(status.pending);
    $('fact-syncing').textContent = status.syncing ? 'now' : 'idle';
    $('fact-paused').textContent = status.paused || 'no';
    $('fact-retry').textContent = kit.nextRetry(status, now);
    $('fact-synced').textContent = status.lastSyncedAt ? kit.ago(status.lastSyncedAt, now) : 'not yet';
    $('fact-conflicts').textContent = String(status.conflicts);
    $('fact-failed').textContent = String(status.failed);
    const error = kit.errorToShow(status, view.state);
    $('last-error').hidden = !error;
    $('last-error').textContent = error ? `Last error: ${error.message}` : '';
    $('pause').textContent = status.paused === 'manual' ? 'Resume sync' : 'Pause sync';
    $('review').hidden = !(state.conflicts.length > 0 && state.conflict.hidden !== null);
  }

  $('pause').addEventListener('click', () => (state.status.paused === 'manual' ? client.resume() : client.pause()));
  $('sync-now').addEventListener('click', () => kit.syncNow(client, todos));
  $('review').addEventListener('click', () => {
    state.conflict.hidden = null;
    renderConflict();
    renderStatus();
  });

  // ---- failed changes -------------------------------------------------------------------

  function renderFailed() {
    const titles = new Map((state.query ? state.query.data : []).map((todo) => [todo.id, todo.title]));
    const texts = state.failed.map((failed) => {
      const payloadTitle = failed.payload && typeof failed.payload.title === 'string' ? failed.payload.title : undefined;
      return kit.describeFailed(failed, titles.get(failed.id) || payloadTitle);
    });
    // Unchanged (a pull re-renders the page): the buttons stay in place, so a press survives it.
    const shown = JSON.stringify(texts);
    if (state.failed === failedShown.list && shown === failedShown.texts) return;
    failedShown = { list: state.failed, texts: shown };
    $('failed-count').textContent = String(state.failed.length);
    $('failed-none').hidden = state.failed.length > 0;
    $('failed-list').hidden = state.failed.length === 0;
    $('failed-list').replaceChildren(
      ...state.failed.map((failed, i) => {
        const text = texts[i];
        return h(
          'li',
          { 'data-testid': 'failed-item' },
          h('div', null, h('strong', null, text.what), h('span', null, text.why)),
          h(
            'div',
            { class: 'actions' },
            h('button', { type: 'button', class: 'btn small', 'data-testid': 'retry', onclick: () => failed.retry().catch(notice) }, 'Retry'),
            h('button', { type: 'button', class: 'btn small danger', 'data-testid': 'discard', onclick: () => failed.discard().catch(notice) }, 'Discard'),
          ),
        );
      }),
    );
  }

  // ---- conflicts ------------------------------------------------------------------------

  const conflictKey = (c) => `${c.resource}/${c.id}/${c.remote ? c.remote.version : 'gone'}/${JSON.stringify(c.local)}`;

  function renderConflict() {
    const root = $('conflict-root');
    const conflict = state.conflicts[0];
    if (!conflict) {
      state.conflict = { key: null, picks: {}, busy: false, error: '', hidden: null };
      root.replaceChildren();
      return;
    }
    const key = conflictKey(conflict);
    const rows = kit.conflictRows(conflict);
    if (state.conflict.key !== key) {
      const picks = {};
      for (const row of rows) if (row.conflicting) picks[row.field] = { side: 'mine', value: row.mine };
      state.conflict = { key, picks, busy: false, error: '', hidden: state.conflict.hidden === key ? key : null };
    }
    if (state.conflict.hidden === key) {
      root.replaceChildren();
      return;
    }
    const { picks, busy } = state.conflict;
    const both = conflict.local !== null && conflict.remote !== null;
    const heading = kit.conflictTitle(conflict);

    const resolve = (choice) => {
      state.conflict.busy = true;
      state.conflict.error = '';
      renderConflict();
      conflict.resolve(choice).catch((error) => {
        state.conflict.busy = false;
        state.conflict.error = error.message || String(error);
        renderConflict();
      });
    };
    const merged = () => {
      const value = {};
      for (const [field, pick] of Object.entries(picks)) value[field] = pick.value;
      return value;
    };
    const mergedBlank = () => Object.values(picks).some((pick) => typeof pick.value === 'string' && pick.value.trim() === '');

    const pickButton = (row, side, label) =>
      h(
        'button',
        {
          type: 'button',
          'data-testid': `pick-${row.field}-${side}`,
          'aria-pressed': String(picks[row.field].side === side),
          onclick: () => {
            picks[row.field] = { side, value: side === 'mine' ? row.mine : row.theirs };
            renderConflict();
          },
        },
        label,
      );

    const resultCell = (row) => {
      if (!row.conflicting || !both) {
        return h('td', { class: 'auto' }, both ? `${kit.show(row.merged)} · ${kit.mergeNote(row)}` : '—');
      }
      const textual = typeof row.mine === 'string' || typeof row.theirs === 'string';
      return h(
        'td',
        null,
        h(
          'div',
          { class: 'result-cell' },
          h('div', { class: 'seg', role: 'group', 'aria-label': `Result for ${row.field}` }, pickButton(row, 'mine', 'Mine'), pickButton(row, 'theirs', 'Theirs')),
          textual
            ? h('input', {
                class: 'input',
                'data-testid': `merged-${row.field}`,
                'aria-label': `Merged ${row.field}`,
                value: String(picks[row.field].value ?? ''),
                oninput: (event) => {
                  const value = event.target.value;
                  picks[row.field] = { side: value === row.mine ? 'mine' : value === row.theirs ? 'theirs' : 'custom', value };
                  for (const button of event.target.parentNode.querySelectorAll('.seg button')) {
                    button.setAttribute('aria-pressed', String(button.dataset.testid.endsWith(`-${picks[row.field].side}`)));
                  }
                  $('use-merged').disabled = busy || mergedBlank();
                },
              })
            : null,
        ),
      );
    };

    const later = () => {
      state.conflict.hidden = key;
      renderConflict();
      renderStatus();
    };
    const wasShown = root.childElementCount > 0;
    const focusedInside = root.contains(document.activeElement);
    const focused = focusedInside ? document.activeElement.dataset.testid : null;
    root.replaceChildren(
      h(
        'div',
        { class: 'modal-backdrop' },
        h(
          'div',
          {
            class: 'modal',
            tabindex: -1,
            role: 'dialog',
            'aria-modal': 'true',
            'aria-labelledby': 'conflict-title',
            'data-testid': 'conflict-dialog',
            'data-id': conflict.id,
            onkeydown: (event) => {
              if (event.key === 'Escape') later();
            },
          },
          h(
            'header',
            null,
            h('span', { class: 'badge conflict' }, `Conflict ${1} of ${state.conflicts.length}`),
            h('h2', { id: 'conflict-title' }, heading.title),
            h('p', null, heading.text),
          ),
          h(
            'div',
            { class: 'diff-wrap' },
            h(
              'table',
              { class: 'diff' },
              h('thead', null, h('tr', null, h('th', null, 'Field'), h('th', null, 'Before'), h('th', null, 'Mine'), h('th', null, 'Theirs'), h('th', null, 'Result'))),
              h(
                'tbody',
                null,
                rows.map((row) =>
                  h(
                    'tr',
                    { class: row.conflicting ? 'is-conflict' : '', 'data-field': row.field },
                    h('th', { scope: 'row' }, row.field),
                    h('td', { 'data-testid': `base-${row.field}` }, kit.show(row.base)),
                    h('td', { class: row.changedBy === 'mine' || row.changedBy === 'both' ? 'side-mine' : '', 'data-testid': `mine-${row.field}` }, conflict.local ? kit.show(row.mine) : 'deleted'),
                    h('td', { class: row.changedBy === 'theirs' || row.changedBy === 'both' ? 'side-theirs' : '', 'data-testid': `theirs-${row.field}` }, conflict.remote ? kit.show(row.theirs) : 'deleted'),
                    resultCell(row),
                  ),
                ),
              ),
            ),
          ),
          state.conflict.error ? h('p', { class: 'hint error', role: 'alert' }, state.conflict.error) : null,
          h(
            'footer',
            { class: 'modal-actions' },
            h('button', { type: 'button', class: 'btn', 'data-testid': 'conflict-later', disabled: busy, onclick: later }, 'Decide later'),
            h('button', { type: 'button', class: 'btn', 'data-testid': 'keep-mine', disabled: busy, onclick: () => resolve('local') }, conflict.remote ? 'Keep mine' : 'Keep mine (re-create)'),
            h('button', { type: 'button', class: 'btn', 'data-testid': 'take-theirs', disabled: busy, onclick: () => resolve('remote') }, conflict.remote ? 'Take theirs' : 'Accept the delete'),
            both
              ? h('button', { type: 'button', class: 'btn primary', id: 'use-merged', 'data-testid': 'use-merged', disabled: busy || mergedBlank(), onclick: () => resolve({ value: merged() }) }, 'Save merged')
              : null,
          ),
          h('p', { class: 'modal-note' }, 'Until you decide, your version stays on screen and nothing about this todo is sent.'),
        ),
      ),
    );
    // A modal dialog takes the focus when it opens (else Tab walks the page behind it), and keeps it
    // on the same control when it is drawn again.
    const modal = root.querySelector('[data-testid="conflict-dialog"]');
    const control = focused && modal.querySelector(`[data-testid="${focused}"]`);
    if (control) control.focus();
    else if (!wasShown || focusedInside) modal.focus();
  }

  // ---- activity -------------------------------------------------------------------------

  const titles = kit.titleMemory(); // names for the log, deleted todos included
  let activity = [];

  function renderActivity() {
    $('activity-none').hidden = activity.length > 0;
    $('activity').hidden = activity.length === 0;
    $('activity').replaceChildren(
      ...activity.map((entry) => {
        const line = kit.describeEvent(entry.event, titles.titleOf);
        return h('li', { 'data-tone': line.tone }, h('time', null, entry.at), h('span', { class: 'tone', 'aria-hidden': 'true' }), h('span', null, line.text));
      }),
    );
  }

  kit.followActivity(client, (entries) => {
    activity = entries;
    renderActivity();
  });

  // ---- the fault switch -----------------------------------------------------------------

  function fillSelect(select, options) {
    select.replaceChildren(...options.map((option) => h('option', { value: String(option.value) }, option.label)));
  }
  fillSelect($('fault-latency'), kit.LATENCIES);
  fillSelect($('fault-errors'), [...kit.ERROR_RATES, { value: -1, label: 'custom' }]);
  $('fault-errors').querySelector('option[value="-1"]').hidden = true;

  let hint = { text: $('fault-hint').textContent, error: false };
  function faultHint(text, isError) {
    hint = { text, error: Boolean(isError) };
    renderFaults();
  }

  function changeFaults(action) {
    action()
      .then((faults) => {
        if (faults && typeof faults === 'object' && 'latencyMs' in faults) state.faults = faults;
        renderFaults();
      })
      .catch((error) => faultHint(error.message, true));
  }

  function loadFaults() {
    if (!navigator.onLine) return renderFaults();
    kit.admin
      .faults()
      .then((faults) => {
        state.faults = faults;
        renderFaults();
      })
      .catch((error) => faultHint(`The fault switch did not answer: ${error.message}`, true));
  }

  function renderFaults() {
    const faults = state.faults;
    const online = navigator.onLine;
    for (const id of ['fault-offline', 'fault-latency', 'fault-errors', 'fault-reject', 'fault-clear', 'other-todo', 'other-title', 'other-edit']) {
      $(id).disabled = !online || (id !== 'fault-clear' && !faults);
    }
    $('other-edit').disabled = $('other-edit').disabled || !$('other-todo').value;
    $('fault-hint').textContent = online ? hint.text : 'The fault switch lives on the server: it needs the network.';
    $('fault-hint').classList.toggle('error', online && hint.error);
    if (!faults) return;
    $('faults-on').hidden = !kit.faultsActive(faults);
    $('fault-offline').checked = faults.offline;
    const latency = kit.LATENCIES.some((option) => option.value === faults.latencyMs) ? faults.latencyMs : 0;
    $('fault-latency').value = String(latency);
    $('fault-errors').value = String(kit.errorRateOf(faults));
  }

  $('fault-offline').addEventListener('change', (event) => changeFaults(() => kit.admin.setFaults({ offline: event.target.checked })));
  $('fault-latency').addEventListener('change', (event) => changeFaults(() => kit.admin.setFaults({ latencyMs: Number(event.target.value) })));
  $('fault-errors').addEventListener('change', (event) =>
    changeFaults(() => kit.admin.setFaults({ errorRate: Number(event.target.value), errorStatus: 503 })),
  );
  $('fault-reject').addEventListener('click', () => {
    faultHint('The server will answer the next write with 422: make a change.');
    changeFaults(() => kit.admin.rejectNextWrite());
  });
  $('fault-clear').addEventListener('click', () => {
    faultHint('Every fault is off.');
    changeFaults(() => kit.admin.clearFaults());
  });

  function renderOtherTodos() {
    const select = $('other-todo');
    const data = state.query ? state.query.data : [];
    const chosen = select.value;
    select.replaceChildren(
      ...(data.length ? data.map((todo) => h('option', { value: todo.id }, todo.title)) : [h('option', { value: '' }, 'No todos yet')]),
    );
    if (data.some((todo) => todo.id === chosen)) select.value = chosen;
    const suggested = !otherTitleTyped && data.length ? kit.otherTitle(data.find((t) => t.id === select.value).title) : null;
    if (suggested !== null && $('other-title').value !== suggested) $('other-title').value = suggested;
    renderFaults();
  }

  $('other-todo').addEventListener('change', () => {
    otherTitleTyped = false;
    renderOtherTodos();
  });
  $('other-title').addEventListener('input', () => (otherTitleTyped = true));
  $('other-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const id = $('other-todo').value;
    const title = $('other-title').value.trim();
    if (!id || !title) return;
    kit.admin
      .editAsOther(id, { title })
      .then(() => {
        const pending = state.query && state.query.pendingIds.has(id);
        faultHint(
          pending
            ? `${kit.OTHER_USER} renamed it on the server. You have an unsent change to it: the two meet when yours is sent.`
            : `${kit.OTHER_USER} renamed it on the server.`,
        );
        otherTitleTyped = true;
        $('other-title').value = '';
        // A pull the fault switch fails is tried again every few seconds: it says nothing of the rename.
        return todoList.refresh().catch(() => {});
      })
      .catch((error) => faultHint(error.message, true));
  });

  // ---- wiring ---------------------------------------------------------------------------

  todoList.query$({ orderBy: 'id' }).subscribe((query) => {
    state.query = query;
    titles.remember(query.data);
    renderList();
    renderFailed();
    renderActivity();
  });
  client.status$.subscribe((status) => {
    state.status = status;
    renderStatus();
  });
  client.conflicts$.subscribe((conflicts) => {
    state.conflicts = conflicts;
    renderConflict();
    renderStatus();
  });
  client.failed$.subscribe((failed) => {
    state.failed = failed;
    renderFailed();
  });

  // For the curious, in the console: demo.client.events$.subscribe(console.log)
  window.demo = { client, todos };

  setInterval(renderStatus, 1000); // the countdown to the next retry
  window.addEventListener('online', loadFaults);
  window.addEventListener('offline', renderFaults);
  kit.keepFresh(client, todos); // other people's changes, every few seconds
  kit.everyFewSeconds(loadFaults);
  loadFaults();
  kit.enableOfflineReload();
})();
