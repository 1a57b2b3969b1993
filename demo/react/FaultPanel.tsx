import { useCallback, useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import { useQuery, useSyncClient } from 'harborsync/react';
import kit from '../shared/kit.js';
import type { Faults } from '../shared/kit.js';
import { todos } from './todos.js';

/** The browser's own online flag (the fault switch is on the server: it needs the network). */
function useBrowserOnline(): boolean {
  const [online, setOnline] = useState(() => navigator.onLine);
  useEffect(() => {
    const update = () => setOnline(navigator.onLine);
    window.addEventListener('online', update);
    window.addEventListener('offline', update);
    return () => {
      window.removeEventListener('online', update);
      window.removeEventListener('offline', update);
    };
  }, []);
  return online;
}

/** The server's fault switch: it breaks the demo server for all three apps. */
export function FaultPanel() {
  const client = useSyncClient();
  const { data, pendingIds } = useQuery(todos, { orderBy: 'id' });
  const online = useBrowserOnline();
  const [faults, setFaults] = useState<Faults | null>(null);
  const [hint, setHint] = useState<{ text: string; error?: boolean }>({ text: 'Pause sync, rename a todo, then rename it here too: a conflict.' });
  const [target, setTarget] = useState('');
  // What the user typed; null: the suggestion, which follows the chosen todo's title.
  const [typed, setTyped] = useState<string | null>(null);

  const load = useCallback(() => {
    if (!navigator.onLine) return;
    kit.admin.faults().then(setFaults, (error: Error) => setHint({ text: `The fault switch did not answer: ${error.message}`, error: true }));
  }, []);
  useEffect(() => {
    if (online) load();
    return kit.everyFewSeconds(load);
  }, [load, online]);

  // The chosen todo: the first one until the user picks another (or it disappears).
  const chosen = data.find((todo) => todo.id === target) ?? data[0];
  const title = typed ?? (chosen ? kit.otherTitle(chosen.title) : '');

  const change = (action: () => Promise<Faults>, text?: string) => {
    if (text) setHint({ text });
    action().then(setFaults, (error: Error) => setHint({ text: error.message, error: true }));
  };

  const editAsOther = (event: FormEvent) => {
    event.preventDefault();
    const text = title.trim();
    if (!chosen || !text) return;
    const pending = pendingIds.has(chosen.id);
    kit.admin
      .editAsOther(chosen.id, { title: text })
      .then(() => {
        setHint({
          text: pending
            ? `${kit.OTHER_USER} renamed it on the server. You have an unsent change to it: the two meet when yours is sent.`
            : `${kit.OTHER_USER} renamed it on the server.`,
        });
        setTyped('');
        // A pull the fault switch fails is tried again every few seconds: it says nothing of the rename.
        return client.resource(todos).refresh().catch(() => {});
      })
      .catch((error: Error) => setHint({ text: error.message, error: true }));
  };

  const disabled = !online || !faults;
  return (
    <section className="card" data-testid="fault-panel">
      <h2>
        Fault switch {kit.faultsActive(faults) && <span className="badge warn">on</span>}
      </h2>
      <p className="hint">Breaks the demo server for all three apps.</p>
      <div className="fault-group">
        <label className="field-row">
          <span>Server unreachable</span>
          <input
            type="checkbox"
            data-testid="fault-offline"
            disabled={disabled}
            checked={faults?.offline ?? false}
            onChange={(event) => change(() => kit.admin.setFaults({ offline: event.target.checked }))}
          />
        </label>
        <label className="field-row">
          <span>Latency</span>
          <select
            data-testid="fault-latency"
            disabled={disabled}
            value={String(kit.LATENCIES.some((option) => option.value === faults?.latencyMs) ? faults?.latencyMs : 0)}
            onChange={(event) => change(() => kit.admin.setFaults({ latencyMs: Number(event.target.value) }))}
          >
            {kit.LATENCIES.map((option) => (
              <option key={option.value} value={String(option.value)}>{option.label}</option>
            ))}
          </select>
        </label>
        <label className="field-row">
          <span>Errors</span>
          <select
            data-testid="fault-errors"
            disabled={disabled}
            value={String(kit.errorRateOf(faults))}
            onChange={(event) => change(() => kit.admin.setFaults({ errorRate: Number(event.target.value), errorStatus: 503 }))}
          >
            {kit.ERROR_RATES.map((option) => (
              <option key={option.value} value={String(option.value)}>{option.label}</option>
            ))}
            <option value="-1" hidden>custom</option>
          </select>
        </label>
        <div className="actions">
          <button
            className="btn small"
            type="button"
            data-testid="fault-reject"
            disabled={disabled}
            onClick={() => change(() => kit.admin.rejectNextWrite(), 'The server will answer the next write with 422: make a change.')}
          >
            Reject next write
          </button>
          <button className="btn small" type="button" data-testid="fault-clear" disabled={!online} onClick={() => change(() => kit.admin.clearFaults(), 'Every fault is off.')}>
            All off
          </button>
        </div>
      </div>
      <form className="other-user" onSubmit={editAsOther}>
        <h3>Edit as another user</h3>
        <select
          data-testid="other-todo"
          aria-label="Todo to change"
          disabled={disabled || data.length === 0}
          value={chosen?.id ?? ''}
          onChange={(event) => {
            setTarget(event.target.value);
            setTyped(null);
          }}
        >
          {data.length === 0 && <option value="">No todos yet</option>}
          {data.map((todo) => (
            <option key={todo.id} value={todo.id}>{todo.title}</option>
          ))}
        </select>
        <input
          className="input"
          data-testid="other-title"
          aria-label="New title"
          placeholder="New title on the server"
          autoComplete="off"
          disabled={disabled}
          value={title}
          onChange={(event) => setTyped(event.target.value)}
        />
        <button className="btn small" type="submit" data-testid="other-edit" disabled={disabled || !chosen}>
          Rename it as {kit.OTHER_USER}
        </button>
        <p className={`hint${hint.error ? ' error' : ''}`}>{online ? hint.text : 'The fault switch lives on the server: it needs the network.'}</p>
      </form>
    </section>
  );
}
