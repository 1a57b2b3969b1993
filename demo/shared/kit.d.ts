// Types of kit.js for the React and Vue apps (the legacy page reads it as window.HarborDemo).
import type { Conflict, FailedMutation, ResourceDefinition, SyncClient, SyncEvent, SyncStatus } from 'harborsync';

export interface Faults {
  offline: boolean;
  latencyMs: number;
  errorRate: number | { count: number };
  errorStatus: number;
  rateLimit: unknown;
  failStatus: unknown;
  dropBeforeApply: number | { count: number };
  dropAfterApply: number | { count: number };
  unauthorized: boolean;
  seed: number;
}

export type StatusState = 'offline' | 'paused' | 'signed-out' | 'retrying' | 'syncing' | 'conflict' | 'failed' | 'pending' | 'loading' | 'synced';

export interface ConflictRow {
  field: string;
  base: unknown;
  mine: unknown;
  theirs: unknown;
  /** Changed on both sides, differently: the user decides. */
  conflicting: boolean;
  /** What the three-way merge keeps (for the fields changed on one side only). */
  merged: unknown;
  changedBy: 'both' | 'mine' | 'theirs' | 'none';
}

export interface ActivityEntry {
  key: number;
  /** 14:03:09 */
  at: string;
  event: SyncEvent;
}

export type FilterId = 'all' | 'active' | 'done';

interface Kit {
  TOKEN: string;
  OTHER_USER: string;
  FILTERS: ReadonlyArray<{ id: FilterId; label: string }>;
  LATENCIES: ReadonlyArray<{ value: number; label: string }>;
  ERROR_RATES: ReadonlyArray<{ value: number; label: string }>;
  apiUrl(): string;
  newId(): string;
  admin: {
    faults(): Promise<Faults>;
    setFaults(patch: Partial<Record<keyof Faults, unknown>>): Promise<Faults>;
    clearFaults(): Promise<Faults>;
    rejectNextWrite(): Promise<Faults>;
    editAsOther(id: string, patch: Record<string, unknown>): Promise<unknown>;
  };
  faultsActive(faults: Faults | null): boolean;
  errorRateOf(faults: Faults | null): number;
  clock(ms: number): string;
  ago(at: number, now: number): string;
  describeStatus(status: SyncStatus, now: number): { state: StatusState; label: string; detail: string };
  /** "14:03:09 (in 4 s)", or "—". */
  nextRetry(status: SyncStatus, now: number): string;
  errorToShow(status: SyncStatus, state: StatusState): Error | null;
  describeFailed(failed: FailedMutation, title: string | undefined): { what: string; why: string };
  /** Follows events$ into a short log, newest first; returns a stop function. */
  followActivity(client: SyncClient, onChange: (entries: ActivityEntry[]) => void, size?: number): () => void;
  /** A title lookup that remembers every todo it saw. */
  /** Keeps a todo's title across reloads, for the log and the failed list once it is deleted. */
  keepTitle(todo: { id: string; title: string }): void;
  titleMemory(): { remember(todos: ReadonlyArray<{ id: string; title: string }>): void; titleOf(id: string): string | undefined };
  /** One line of the activity log, or null for events not worth a line. */
  describeEvent(event: SyncEvent, titleOf: (id: string) => string | undefined): { tone: 'info' | 'ok' | 'warn' | 'bad'; text: string } | null;
  conflictRows(conflict: Conflict): ConflictRow[];
  conflictTitle(conflict: Conflict): { title: string; text: string };
  show(value: unknown): string;
  /** What the result column says about a field the merge decided by itself. */
  mergeNote(row: ConflictRow): string;
  filterTodos<T extends { done: boolean }>(todos: readonly T[], filter: FilterId): T[];
  counts(todos: ReadonlyArray<{ done: boolean }>): Record<FilterId, number>;
  otherTitle(title: string): string;
  everyFewSeconds(tick: () => void, everyMs?: number): () => void;
  /** Pulls every few seconds while the page is in front; returns a stop function. */
  keepFresh(client: SyncClient, resource: ResourceDefinition<object>): () => void;
  /** flush(), then a pull. */
  syncNow(client: SyncClient, resource: ResourceDefinition<object>): Promise<void>;
  enableOfflineReload(): Promise<boolean>;
}

declare const kit: Kit;
export default kit;
