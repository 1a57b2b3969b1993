import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { useConflicts, useFailed, useQuery, useSyncClient, useSyncStatus } from 'harborsync/react';
import type { FailedMutation } from 'harborsync';
import kit from '../shared/kit.js';
import type { ActivityEntry, FilterId } from '../shared/kit.js';
import { ConflictDialog, conflictKey } from './ConflictDialog.js';
import { FaultPanel } from './FaultPanel.js';
import { todos } from './todos.js';
import type { Todo } from './todos.js';

/** The current time, once a second: countdowns and "12 s ago". */
export function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** Runs a write; shows its error (a ValidationError, a closed client) instead of losing it. */
function useWrite(): [string, (write: () => Promise<unknown>) => void] {
  const [error, setError] = useState('');
  const run = (write: () => Promise<unknown>) => {
    write().then(
      () => setError(''),
      (reason: unknown) => setError(reason instanceof Error ? reason.message : String(reason)),
    );
  };
  return [error, run];
}

export function App() {
  const client = useSyncClient();
  const conflicts = useConflicts();
  const [hiddenConflict, setHiddenConflict] = useState<string | null>(null);
  // Only while the dialog put off is the one to show: a changed conflict opens by itself.
  const reviewable = conflicts[0] !== undefined && conflictKey(conflicts[0]) === hiddenConflict;

  // Pull other people's changes every few seconds while the page is in front.
  useEffect(() => kit.keepFresh(client, todos), [client]);

  return (
    <div className="app" data-app="react">
      <TopBar />
      <main className="layout">
        <div className="main-col">
          <TodoCard />
          <ActivityCard />
        </div>
        <aside className="side">
          <SyncPanel onReview={() => setHiddenConflict(null)} reviewable={reviewable} />
          <FailedPanel />
          <FaultPanel />
        </aside>
      </main>
      <ConflictDialog hidden={hiddenConflict} onLater={setHiddenConflict} />
    </div>
  );
}

function TopBar() {
  const status = useSyncStatus();
  const view = kit.describeStatus(status, useNow());
  return (
    <header className="topbar">
      <div className="topbar-inner">
        <a className="brand" href="/">
          <span className="logo" aria-hidden="true">⚓</span> harborsync <span className="brand-sub">demo</span>
        </a>
        <nav className="switcher" aria-label="The same app three ways">
          <a href="/legacy/">Script tag</a>
          <a href="/react/" aria-current="page">React</a>
          <a href="/vue/">Vue</a>
        </nav>
        <div className="status-pill" data-testid="status" data-state={view.state} role="status" title={view.detail}>
          <span className="dot" aria-hidden="true" />
          <span>{view.label}</span>
        </div>
      </div>
    </header>
  );
}

function TodoCard() {
  const client = useSyncClient();
  const { data, status, error, pendingIds, lastSyncedAt } = useQuery(todos, { orderBy: 'id' });
  const [filter, setFilter] = useState<FilterId>('all');
  const [title, setTitle] = useState('');
  const [writeError, write] = useWrite();
  const counts = kit.counts(data);
  const shown = kit.filterTodos(data, filter);

  const add = (event: FormEvent) => {
    event.preventDefault();
    const text = title.trim();
    if (!text) return;
    setTitle('');
    write(() => client.resource(todos).create({ id: kit.newId(), title: text, done: false }));
  };

  let empty = '';
  if (status === 'loading') empty = 'Loading…';
  else if (status === 'error' && data.length === 0) empty = `Could not load the todos: ${error?.message}`;
  // Never synced (opened offline): an empty cache says nothing about the server's todos.
  else if (data.length === 0 && lastSyncedAt === null) empty = 'Nothing loaded yet: the todos come from the server once it can be reached.';
  else if (data.length === 0) empty = 'Nothing to do yet. Add a todo above.';
  else if (shown.length === 0) empty = filter === 'done' ? 'Nothing done yet.' : 'All done. Nice.';

  return (
    <section className="card todos-card">
      <div className="card-head">
        <div>
          <h1>Todos</h1>
          <p className="muted small">
            React · <code>harborsync/react</code> · namespace <code>demo-react</code>
          </p>
        </div>
      </div>
      <form className="add-form" data-testid="add-form" onSubmit={add}>
        <label className="visually-hidden" htmlFor="new-title">New todo</label>
        <input
          className="input"
          id="new-title"
          data-testid="new-title"
          placeholder="What needs doing?"
          autoComplete="off"
          maxLength={200}
          value={title}
          onChange={(event) => setTitle(event.target.value)}
        />
        <button className="btn primary" type="submit" data-testid="add">Add</button>
      </form>
      {writeError && <p className="hint error" role="alert">{writeError}</p>}
      <div className="filters" role="group" aria-label="Show">
        {kit.FILTERS.map((option) => (
          <button
            key={option.id}
            type="button"
            className="chip"
            data-testid={`filter-${option.id}`}
            aria-pressed={filter === option.id}
            onClick={() => setFilter(option.id)}
          >
            {option.label} <span className="count">{counts[option.id]}</span>
          </button>
        ))}
      </div>
      {shown.length > 0 ? (
        <ul className="todo-list" data-testid="todo-list">
          {shown.map((todo) => (
            <TodoRow key={todo.id} todo={todo} pending={pendingIds.has(todo.id)} write={write} />
          ))}
        </ul>
      ) : (
        <p className="empty" data-testid="empty">{empty}</p>
      )}
      <p className="list-foot muted">
        Click a title to rename it. Every change is saved on this device at once and sent when the server can be reached.
      </p>
    </section>
  );
}

function TodoRow({ todo, pending, write }: { todo: Todo; pending: boolean; write: (w: () => Promise<unknown>) => void }) {
  const client = useSyncClient();
  const handle = client.resource(todos);
  const [draft, setDraft] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const renameButton = useRef<HTMLButtonElement>(null);
  // Enter ends the edit and removes the input, and Chrome then fires blur on it: finish once.
  const editing = useRef(false);
  // Ended with Enter or Escape: the focus goes back to the rename button, not to the page's top.
  const refocus = useRef(false);
  const editing$ = draft !== null;

  useEffect(() => {
    editing.current = editing$;
    if (editing$) input.current?.select();
    else if (refocus.current) renameButton.current?.focus();
    refocus.current = false;
  }, [editing$]);

  const finish = (save: boolean) => {
    if (draft === null || !editing.current) return;
    editing.current = false;
    const title = draft.trim();
    setDraft(null);
    if (save && title && title !== todo.title) write(() => handle.update(todo.id, { title }));
  };

  return (
    <li className={`todo${todo.done ? ' is-done' : ''}${pending ? ' is-pending' : ''}`} data-testid="todo" data-id={todo.id}>
      <input
        type="checkbox"
        className="toggle"
        data-testid="toggle"
        aria-label={`Done: ${todo.title}`}
        checked={todo.done}
        onChange={() => write(() => handle.update(todo.id, { done: !todo.done }))}
      />
      {draft === null ? (
        <span className="todo-title" data-testid="title" title="Click to rename" onClick={() => setDraft(todo.title)}>
          {todo.title}
        </span>
      ) : (
        <input
          ref={input}
          className="input edit-input"
          data-testid="edit-input"
          aria-label="Title"
          maxLength={200}
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={(event) => {
            if (event.key !== 'Enter' && event.key !== 'Escape') return;
            event.preventDefault(); // else the Enter also presses the rename button the focus goes to
            refocus.current = true;
            finish(event.key === 'Enter');
          }}
          onBlur={() => finish(true)}
        />
      )}
      {pending && (
        <span className="badge pending" data-testid="pending" title="Saved on this device, not yet confirmed by the server">
          not synced
        </span>
      )}
      <div className="row-actions">
        <button ref={renameButton} type="button" className="icon-btn" data-testid="edit" aria-label={`Rename ${todo.title}`} title="Rename" onClick={() => setDraft(todo.title)}>
          ✎
        </button>
        <button
          type="button"
          className="icon-btn danger"
          data-testid="delete"
          aria-label={`Delete ${todo.title}`}
          title="Delete"
          onClick={() => write(() => (kit.keepTitle(todo), handle.delete(todo.id)))}
        >
          ✕
        </button>
      </div>
    </li>
  );
}

function SyncPanel({ reviewable, onReview }: { reviewable: boolean; onReview: () => void }) {
  const client = useSyncClient();
  const status = useSyncStatus();
  const now = useNow();
  const view = kit.describeStatus(status, now);
  const error = kit.errorToShow(status, view.state);

  return (
    <section className="card" data-testid="sync-panel">
      <h2>Sync</h2>
      <dl className="facts">
        <div><dt>Network</dt><dd>{status.online ? 'online' : 'offline'}</dd></div>
        <div><dt>Pending</dt><dd data-testid="pending-count">{status.pending}</dd></div>
        <div><dt>Sending</dt><dd>{status.syncing ? 'now' : 'idle'}</dd></div>
        <div><dt>Paused</dt><dd>{status.paused ?? 'no'}</dd></div>
        <div><dt>Next retry</dt><dd data-testid="next-retry">{kit.nextRetry(status, now)}</dd></div>
        <div><dt>Last synced</dt><dd>{status.lastSyncedAt ? kit.ago(status.lastSyncedAt, now) : 'not yet'}</dd></div>
        <div><dt>Conflicts</dt><dd>{status.conflicts}</dd></div>
        <div><dt>Failed</dt><dd>{status.failed}</dd></div>
      </dl>
      <p className="status-detail">{view.detail}</p>
      {error && <p className="last-error">Last error: {error.message}</p>}
      <div className="actions">
        <button className="btn small" type="button" data-testid="pause" onClick={() => (status.paused === 'manual' ? client.resume() : client.pause())}>
          {status.paused === 'manual' ? 'Resume sync' : 'Pause sync'}
        </button>
        <button
          className="btn small"
          type="button"
          data-testid="sync-now"
          onClick={() => void kit.syncNow(client, todos)}
        >
          Sync now
        </button>
        {reviewable && (
          <button className="btn small" type="button" data-testid="review-conflicts" onClick={onReview}>
            Review conflicts
          </button>
        )}
      </div>
    </section>
  );
}

function FailedPanel() {
  const failed = useFailed();
  const { data } = useQuery(todos, { orderBy: 'id' });
  const [error, run] = useWrite();
  const titleOf = (item: FailedMutation) => {
    const payload = item.payload as { title?: unknown } | null;
    return data.find((todo) => todo.id === item.id)?.title ?? (typeof payload?.title === 'string' ? payload.title : undefined);
  };
  return (
    <section className="card" data-testid="failed-panel">
      <h2>
        Failed changes <span className="count">{failed.length}</span>
      </h2>
      {failed.length === 0 ? (
        <p className="none">None. A change the server rejects waits here — undone on screen — until you retry or discard it.</p>
      ) : (
        <ul className="failed-list">
          {failed.map((item) => {
            const text = kit.describeFailed(item, titleOf(item));
            return (
              <li key={`${item.resource}/${item.id}/${item.op}`} data-testid="failed-item">
                <div>
                  <strong>{text.what}</strong>
                  <span>{text.why}</span>
                </div>
                <div className="actions">
                  <button type="button" className="btn small" data-testid="retry" onClick={() => run(() => item.retry())}>
                    Retry
                  </button>
                  <button type="button" className="btn small danger" data-testid="discard" onClick={() => run(() => item.discard())}>
                    Discard
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      {error && <p className="hint error" role="alert">{error}</p>}
    </section>
  );
}

/** What the client does, from its events$: saved, sent, confirmed, retried, conflicted. */
function ActivityCard() {
  const client = useSyncClient();
  const { data } = useQuery(todos, { orderBy: 'id' });
  const [titles] = useState(() => kit.titleMemory()); // names for the log, deleted todos included
  const [entries, setEntries] = useState<ActivityEntry[]>([]);
  useEffect(() => kit.followActivity(client, setEntries), [client]);
  titles.remember(data);
  return (
    <section className="card" data-testid="activity-panel">
      <h2>Activity</h2>
      {entries.length === 0 ? (
        <p className="none">What the client does shows up here: each change saved, sent and confirmed — once.</p>
      ) : (
        <ol className="activity">
          {entries.map((entry) => {
            const line = kit.describeEvent(entry.event, titles.titleOf);
            return (
              <li key={entry.key} data-tone={line?.tone}>
                <time>{entry.at}</time>
                <span className="tone" aria-hidden="true" />
                <span>{line?.text}</span>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}
