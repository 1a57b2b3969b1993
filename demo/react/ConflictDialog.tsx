import { useEffect, useRef, useState } from 'react';
import { useConflicts } from 'harborsync/react';
import type { Conflict, ConflictChoice, Entity } from 'harborsync';
import kit from '../shared/kit.js';
import type { ConflictRow } from '../shared/kit.js';

type Side = 'mine' | 'theirs' | 'custom';
type Picks = Record<string, { side: Side; value: unknown }>;

/** One conflict at a time, with the base, mine and theirs of every field and three ways out. */
export function ConflictDialog({ hidden, onLater }: { hidden: string | null; onLater: (key: string) => void }) {
  const conflicts = useConflicts();
  const conflict = conflicts[0];
  if (!conflict) return null;
  const key = conflictKey(conflict);
  if (hidden === key) return null;
  // A new conflict (or a new remote version of it) starts from fresh picks.
  return <Dialog key={key} conflict={conflict} total={conflicts.length} onLater={() => onLater(key)} />;
}

export function conflictKey(conflict: Conflict): string {
  return `${conflict.resource}/${conflict.id}/${String(conflict.remote?.['version'] ?? 'gone')}/${JSON.stringify(conflict.local)}`;
}

function Dialog({ conflict, total, onLater }: { conflict: Conflict; total: number; onLater: () => void }) {
  const rows = kit.conflictRows(conflict);
  const [picks, setPicks] = useState<Picks>(() =>
    Object.fromEntries(rows.filter((row) => row.conflicting).map((row) => [row.field, { side: 'mine' as Side, value: row.mine }])),
  );
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  // A modal dialog takes the focus, or Tab walks the page behind it.
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => box.current?.focus(), []);
  const both = conflict.local !== null && conflict.remote !== null;
  const heading = kit.conflictTitle(conflict);
  const blank = Object.values(picks).some((pick) => typeof pick.value === 'string' && pick.value.trim() === '');

  const resolve = (choice: ConflictChoice<Entity>) => {
    setBusy(true);
    setError('');
    conflict.resolve(choice).catch((reason: unknown) => {
      setBusy(false);
      setError(reason instanceof Error ? reason.message : String(reason));
    });
  };
  const merged = () => Object.fromEntries(Object.entries(picks).map(([field, pick]) => [field, pick.value]));
  const pick = (row: ConflictRow, side: Side, value: unknown) => setPicks((current) => ({ ...current, [row.field]: { side, value } }));

  return (
    <div className="modal-backdrop">
      <div
        ref={box}
        tabIndex={-1}
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby="conflict-title"
        data-testid="conflict-dialog"
        data-id={conflict.id}
        onKeyDown={(event) => event.key === 'Escape' && onLater()}
      >
        <header>
          <span className="badge conflict">Conflict 1 of {total}</span>
          <h2 id="conflict-title">{heading.title}</h2>
          <p>{heading.text}</p>
        </header>
        <div className="diff-wrap">
          <table className="diff">
            <thead>
              <tr>
                <th>Field</th>
                <th>Before</th>
                <th>Mine</th>
                <th>Theirs</th>
                <th>Result</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.field} className={row.conflicting ? 'is-conflict' : ''} data-field={row.field}>
                  <th scope="row">{row.field}</th>
                  <td data-testid={`base-${row.field}`}>{kit.show(row.base)}</td>
                  <td className={row.changedBy === 'mine' || row.changedBy === 'both' ? 'side-mine' : ''} data-testid={`mine-${row.field}`}>
                    {conflict.local ? kit.show(row.mine) : 'deleted'}
                  </td>
                  <td className={row.changedBy === 'theirs' || row.changedBy === 'both' ? 'side-theirs' : ''} data-testid={`theirs-${row.field}`}>
                    {conflict.remote ? kit.show(row.theirs) : 'deleted'}
                  </td>
                  {row.conflicting && both ? (
                    <td>
                      <div className="result-cell">
                        <div className="seg" role="group" aria-label={`Result for ${row.field}`}>
                          {(['mine', 'theirs'] as const).map((side) => (
                            <button
                              key={side}
                              type="button"
                              data-testid={`pick-${row.field}-${side}`}
                              aria-pressed={picks[row.field]?.side === side}
                              onClick={() => pick(row, side, side === 'mine' ? row.mine : row.theirs)}
                            >
                              {side === 'mine' ? 'Mine' : 'Theirs'}
                            </button>
                          ))}
                        </div>
                        {(typeof row.mine === 'string' || typeof row.theirs === 'string') && (
                          <input
                            className="input"
                            data-testid={`merged-${row.field}`}
                            aria-label={`Merged ${row.field}`}
                            value={String(picks[row.field]?.value ?? '')}
                            onChange={(event) => {
                              const value = event.target.value;
                              pick(row, value === row.mine ? 'mine' : value === row.theirs ? 'theirs' : 'custom', value);
                            }}
                          />
                        )}
                      </div>
                    </td>
                  ) : (
                    <td className="auto">{both ? `${kit.show(row.merged)} · ${kit.mergeNote(row)}` : '—'}</td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {error && <p className="hint error" role="alert">{error}</p>}
        <footer className="modal-actions">
          <button type="button" className="btn" data-testid="conflict-later" disabled={busy} onClick={onLater}>
            Decide later
          </button>
          <button type="button" className="btn" data-testid="keep-mine" disabled={busy} onClick={() => resolve('local')}>
            {conflict.remote ? 'Keep mine' : 'Keep mine (re-create)'}
          </button>
          <button type="button" className="btn" data-testid="take-theirs" disabled={busy} onClick={() => resolve('remote')}>
            {conflict.remote ? 'Take theirs' : 'Accept the delete'}
          </button>
          {both && (
            <button type="button" className="btn primary" data-testid="use-merged" disabled={busy || blank} onClick={() => resolve({ value: merged() })}>
              Save merged
            </button>
          )}
        </footer>
        <p className="modal-note">Until you decide, your version stays on screen and nothing about this todo is sent.</p>
      </div>
    </div>
  );
}
