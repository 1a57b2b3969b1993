import type { SyncStatus } from '../types.js';

/** The sync status before anything is known: online, nothing pending, no leader yet. */
export const INITIAL_STATUS: SyncStatus = /* @__PURE__ */ Object.freeze({
  online: true,
  leader: false,
  syncing: false,
  pending: 0,
  failed: 0,
  conflicts: 0,
  paused: null,
  nextRetryAt: null,
  lastSyncedAt: null,
  lastError: null,
});
