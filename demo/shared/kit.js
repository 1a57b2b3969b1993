/*
 * What the three demo apps share that is not harborsync: the fault switch's admin calls, how the
 * sync status reads in words, the conflict dialog's rows, time formatting, todo ids, and the
 * service worker that lets the pages load offline. A classic script (the legacy page loads it
 * with a <script> tag as window.HarborDemo) that bundlers also import (module.exports).
 */
(function (root, factory) {
  var kit = factory();
  if (typeof module === 'object' && module.exports) module.exports = kit;
  else root.HarborDemo = kit;
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  /** The demo user's bearer token; the reference server knows demo-alice and demo-bob. */
  var TOKEN = 'demo-alice';
  /** The other user the fault switch writes as. */
  var OTHER_USER = 'Mallory';

  var FILTERS = [
    { id: 'all', label: 'All' },
    { id: 'active', label: 'Active' },
    { id: 'done', label: 'Done' },
  ];
  var LATENCIES = [
    { value: 0, label: 'none' },
    { value: 300, label: '300 ms' },
    { value: 1500, label: '1.5 s' },
    { value: 5000, label: '5 s' },
  ];
  var ERROR_RATES = [
    { value: 0, label: 'none' },
    { value: 0.3, label: '30% 503' },
    { value: 1, label: 'all 503' },
  ];

  /** The API's absolute address on this origin (the same as baseUrl '/api', spelled out). */
  function apiUrl() {
    return new URL('/api', location.href).href;
  }

  /** Ids that sort by creation time, so the list keeps the order todos were added in. */
  function newId() {
    var time = Date.now().toString(36).padStart(9, '0');
    var random = Math.floor(Math.random() * 36 * 36 * 36 * 36).toString(36).padStart(4, '0');
    return 't' + time + random;
  }

  // ---- the fault switch (same-origin /admin calls; the server refuses other origins) ----

  function adminCall(method, path, body) {
    return fetch('/admin/' + path, {
      method: method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = text ? JSON.parse(text) : undefined;
        if (!response.ok) throw new Error((data && data.error) || method + ' /admin/' + path + ': ' + response.status);
        return data;
      });
    });
  }

  var admin = {
    /** The current settings: { offline, latencyMs, errorRate, ... }. */
    faults: function () {
      return adminCall('GET', 'faults');
    },
    /** Merges settings; null resets a field. */
    setFaults: function (patch) {
      return adminCall('POST', 'faults', patch);
    },
    /** Every fault off. */
    clearFaults: function () {
      return adminCall('POST', 'faults', {
        offline: null,
        latencyMs: null,
        errorRate: null,
        errorStatus: null,
        rateLimit: null,
        failStatus: null,
        dropBeforeApply: null,
        dropAfterApply: null,
        unauthorized: null,
      });
    },
    /** The server rejects the next write with 422: it lands in the failed list. */
    rejectNextWrite: function () {
      return adminCall('POST', 'faults', { failStatus: { status: 422, count: 1 } });
    },
    /** Writes on the server as another user, as if someone else changed the todo meanwhile. */
    editAsOther: function (id, patch) {
      return adminCall('POST', 'edit', { resource: 'todos', id: id, patch: patch });
    },
  };

  /** Whether a trigger can still fire: a rate above 0, or a count not used up. */
  function armed(trigger) {
    if (!trigger) return false;
    if (typeof trigger === 'number') return trigger > 0;
    return trigger.count !== undefined ? trigger.count > 0 : (trigger.rate === undefined ? 1 : trigger.rate) > 0;
  }

  /** Whether any fault is on, for a badge on the panel. */
  function faultsActive(faults) {
    if (!faults) return false;
    return Boolean(
      faults.offline ||
        faults.unauthorized ||
        faults.latencyMs > 0 ||
        armed(faults.errorRate) ||
        armed(faults.rateLimit) ||
        armed(faults.failStatus) ||
        armed(faults.dropBeforeApply) ||
        armed(faults.dropAfterApply),
    );
  }

  /** The error-rate menu's value for the current settings (a count or an odd rate reads as custom). */
  function errorRateOf(faults) {
    var rate = faults ? faults.errorRate : 0;
    return typeof rate === 'number' ? rate : -1;
  }

  // ---- words for the sync status ----

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  /** 14:03:09 */
  function clock(ms) {
    var d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  /** "in 4 s", "now" */
  function inSeconds(at, now) {
    var s = Math.ceil((at - now) / 1000);
    return s <= 0 ? 'now' : 'in ' + s + ' s';
  }

  /** "just now", "12 s ago", "3 min ago" */
  function ago(at, now) {
    var s = Math.round((now - at) / 1000);
    if (s < 3) return 'just now';
    if (s < 60) return s + ' s ago';
    return Math.round(s / 60) + ' min ago';
  }

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  /**
   * The sync status as the indicator shows it.
   * @returns {{ state: 'offline'|'paused'|'signed-out'|'retrying'|'syncing'|'conflict'|'failed'|'pending'|'loading'|'synced',
   *             label: string, detail: string }}
   */
  function describeStatus(status, now) {
    var pending = status.pending;
    var unsent = pending ? plural(pending, 'change', 'changes') + ' kept on this device' : 'nothing waiting';
    if (status.paused === 'offline') {
      var then = pending === 0 ? 'changes made now wait on this device until' : pending === 1 ? 'it is sent when' : 'they are sent when';
      return { state: 'offline', label: 'Offline', detail: unsent + '; ' + then + ' the network is back' };
    }
    if (status.paused === 'manual') return { state: 'paused', label: 'Paused', detail: unsent + '; resume to send' };
    if (status.paused === 'unauthorized') {
      return { state: 'signed-out', label: 'Signed out', detail: 'the server refused the token; ' + unsent };
    }
    if (status.nextRetryAt !== null && pending > 0) {
      return {
        state: 'retrying',
        label: 'Retrying ' + inSeconds(status.nextRetryAt, now),
        detail: 'the last attempt failed; the next one is at ' + clock(status.nextRetryAt),
      };
    }
    if (status.syncing) return { state: 'syncing', label: 'Syncing…', detail: plural(pending, 'change', 'changes') + ' to send' };
    if (status.conflicts > 0) {
      return {
        state: 'conflict',
        label: plural(status.conflicts, 'conflict', 'conflicts') + ' to resolve',
        detail: 'a change of yours met someone else’s: it waits for your decision',
      };
    }
    if (status.failed > 0) {
      return {
        state: 'failed',
        label: plural(status.failed, 'change', 'changes') + ' rejected',
        detail: 'the server refused ' + (status.failed === 1 ? 'a change' : 'changes') + ': retry or discard in the failed list',
      };
    }
    if (pending > 0) return { state: 'pending', label: plural(pending, 'pending change', 'pending changes'), detail: 'about to be sent' };
    // Nothing waits, but nothing has been confirmed either (the first pull failed or is yet to run).
    if (status.lastSyncedAt === null) {
      return {
        state: 'loading',
        label: 'Not loaded yet',
        detail: 'nothing has come from the server yet' + (status.lastError ? ': ' + shortError(status.lastError) : ''),
      };
    }
    return {
      state: 'synced',
      label: 'Online · all saved',
      detail: 'every change is on the server',
    };
  }

  /**
   * status.lastError when it explains the state shown (a retry waiting, a refused token), else null:
   * it is the last error ever seen, and beside a conflict or a rejected change one from trouble
   * long over would read as if the network were down now.
   */
  function errorToShow(status, state) {
    return state === 'retrying' || state === 'signed-out' ? status.lastError : null;
  }

  /** "14:03:09 (in 4 s)", or "—" when no retry is scheduled. */
  function nextRetry(status, now) {
    if (status.nextRetryAt === null) return '—';
    return clock(status.nextRetryAt) + ' (' + inSeconds(status.nextRetryAt, now) + ')';
  }

  function shortError(error) {
    var message = String((error && error.message) || error);
    return message.length > 90 ? message.slice(0, 87) + '…' : message;
  }

  /** A failed change in two lines: what it was, and what the server said. */
  function describeFailed(failed, title) {
    var op = { create: 'Adding', update: 'Changing', delete: 'Deleting' }[failed.op] || failed.op;
    title = title || deletedTitles()[failed.id];
    var what = title ? '“' + title + '”' : failed.id;
    // The change is undone on screen: say what it would have done when it did one thing.
    var payload = failed.op === 'update' && failed.payload && typeof failed.payload === 'object' ? failed.payload : {};
    var fields = Object.keys(payload);
    var doing = op + ' ' + what;
    if (fields.length === 1 && typeof payload.title === 'string') doing = 'Renaming ' + what + ' to “' + payload.title + '”';
    if (fields.length === 1 && typeof payload.done === 'boolean') doing = 'Marking ' + what + (payload.done ? ' done' : ' not done');
    var error = failed.error;
    // The server's own words when its answer has them ({ error } or { message }).
    var body = error.body && typeof error.body === 'object' ? error.body : {};
    var said = typeof body.error === 'string' ? body.error : typeof body.message === 'string' ? body.message : error.message;
    // A change the client gave up on after its retries (503s) was not refused: say so first.
    var gaveUp = /^gave up after \d+ attempts/.exec(error.message);
    var answered = gaveUp ? 'Gave up' + gaveUp[0].slice('gave up'.length) + '; the last answer was ' : 'The server answered ';
    var why = error.status ? answered + error.status + ': ' + said : shortError(error);
    return { what: doing, why: why.length > 140 ? why.slice(0, 137) + '…' : why };
  }

  // ---- the activity log ----

  var NOUNS = { create: 'the new todo', update: 'the change to', delete: 'the deletion of' };
  var CHOICES = { local: 'kept yours', remote: 'took theirs', value: 'saved a merged value', merged: 'merged both sides by itself' };

  /**
   * One line of the activity log for a client event, or null for the ones not worth a line.
   * @returns {{ tone: 'info'|'ok'|'warn'|'bad', text: string } | null}
   */
  function describeEvent(event, titleOf) {
    var what = function () {
      var title = titleOf(event.id);
      return (NOUNS[event.op] || event.op) + ' ' + (title ? '“' + title + '”' : event.id);
    };
    var name = function () {
      var title = titleOf(event.id);
      return title ? '“' + title + '”' : event.id;
    };
    switch (event.type) {
      case 'enqueued':
        return { tone: 'info', text: 'Saved on this device: ' + what() };
      case 'sent':
        return { tone: 'info', text: 'Sending ' + what() + (event.attempt > 1 ? ' (attempt ' + event.attempt + ')' : '') };
      case 'succeeded':
        return { tone: 'ok', text: 'The server has ' + what() };
      case 'retrying':
        return { tone: 'warn', text: 'No luck sending ' + what() + ': ' + shortError(event.error) + ' — again in ' + Math.ceil(event.delayMs / 1000) + ' s' };
      case 'failed':
        return { tone: 'bad', text: 'The server refused ' + what() };
      case 'rolledBack':
        return { tone: 'warn', text: 'Undone on screen: ' + name() };
      case 'conflict':
        return { tone: 'bad', text: 'Conflict on ' + name() + (event.fields.length ? ' (' + event.fields.join(', ') + ')' : '') + ': your decision is needed' };
      case 'resolved':
        return { tone: 'ok', text: 'Conflict on ' + name() + ' settled: ' + (CHOICES[event.choice] || event.choice) };
      case 'pulled':
        if (event.count === 0 && event.removed === 0) return null;
        if (event.count === 0) return { tone: 'info', text: plural(event.removed, 'todo', 'todos') + ' removed on the server' };
        return {
          tone: 'info',
          text: 'Pulled ' + plural(event.count, 'todo', 'todos') + ' from the server' + (event.removed ? ', ' + event.removed + ' removed' : ''),
        };
      case 'paused':
        return { tone: 'warn', text: event.reason === 'offline' ? 'Offline: changes wait on this device' : 'Sync paused (' + event.reason + ')' };
      case 'resumed':
        return { tone: 'ok', text: 'Sync resumed' };
      case 'error':
      case 'storageError':
      case 'schemaError':
        return { tone: 'bad', text: shortError(event.error) };
      default:
        return null;
    }
  }

  /**
   * Follows a client's events$ into a short log, newest first: { key, at, event }. The text is
   * made at render time with describeEvent(), when the todo's title is known. `onChange` gets
   * the new list. Returns a function that stops it.
   */
  function followActivity(client, onChange, size) {
    var entries = [];
    var counter = 0;
    var none = function () {
      return undefined;
    };
    var subscription = client.events$.subscribe(function (event) {
      if (!describeEvent(event, none)) return;
      counter += 1;
      entries = [{ key: counter, at: clock(event.at), event: event }].concat(entries).slice(0, size || 8);
      onChange(entries);
    });
    return function () {
      subscription.unsubscribe();
    };
  }

  // A todo deleted on this device is gone from its list, and after a reload from any memory: its
  // title is kept in localStorage (the newest 50) so the log and the failed list can still name it.
  var DELETED_TITLES = 'harborsync-demo:deleted-titles';

  function deletedTitles() {
    try {
      return JSON.parse(localStorage.getItem(DELETED_TITLES) || '{}');
    } catch (_) {
      return {};
    }
  }

  /** Call before deleting `todo`. */
  function keepTitle(todo) {
    var kept = deletedTitles();
    delete kept[todo.id];
    kept[todo.id] = todo.title;
    var ids = Object.keys(kept);
    ids.slice(0, Math.max(0, ids.length - 50)).forEach(function (id) {
      delete kept[id];
    });
    try {
      localStorage.setItem(DELETED_TITLES, JSON.stringify(kept));
    } catch (_) {
      // Storage full or refused: the todo is named by its id, as before.
    }
  }

  /** A title lookup that remembers every todo it saw, so a deleted one still has a name. */
  function titleMemory() {
    var titles = new Map();
    return {
      remember: function (todos) {
        todos.forEach(function (todo) {
          titles.set(todo.id, todo.title);
        });
      },
      titleOf: function (id) {
        return titles.get(id) || deletedTitles()[id];
      },
    };
  }

  // ---- the conflict dialog ----

  /** The fields the dialog shows: every field of the entity but the id and the version. */
  function conflictRows(conflict) {
    var names = [];
    [conflict.base, conflict.local, conflict.remote].forEach(function (side) {
      if (!side) return;
      Object.keys(side).forEach(function (name) {
        if (name !== 'id' && name !== 'version' && names.indexOf(name) === -1) names.push(name);
      });
    });
    return names.map(function (field) {
      var base = conflict.base ? conflict.base[field] : undefined;
      var mine = conflict.local ? conflict.local[field] : undefined;
      var theirs = conflict.remote ? conflict.remote[field] : undefined;
      var both = conflict.fields.indexOf(field) !== -1;
      // What the three-way merge keeps for a field changed on one side only.
      var merged = same(mine, base) ? theirs : mine;
      var changedBy = both ? 'both' : !same(mine, base) ? 'mine' : !same(theirs, base) ? 'theirs' : 'none';
      return { field: field, base: base, mine: mine, theirs: theirs, conflicting: both, merged: merged, changedBy: changedBy };
    });
  }

  function same(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
  }

  /** What the result column says about a field the merge decided by itself. */
  function mergeNote(row) {
    return { mine: 'yours, merged', theirs: 'theirs, merged', none: 'unchanged', both: 'both changed' }[row.changedBy];
  }

  /** A field's value in a table cell. */
  function show(value) {
    if (value === undefined || value === null) return '—';
    if (typeof value === 'boolean') return value ? '✓ done' : '○ open';
    return String(value);
  }

  /** The headline of the dialog. */
  function conflictTitle(conflict) {
    // Deleted here: the title it had then (base), not the one the other side gave it since.
    var title = (conflict.local && conflict.local.title) || (conflict.base && conflict.base.title) || (conflict.remote && conflict.remote.title) || conflict.id;
    if (!conflict.remote) return { title: 'Deleted on the server', text: '“' + title + '” was deleted by someone else while you changed it.' };
    if (!conflict.local) return { title: 'Changed on the server', text: 'You deleted “' + title + '” while someone else changed it.' };
    return {
      title: 'Someone else changed this todo',
      text: 'Your change to “' + title + '” and a change on the server touch the same ' +
        (conflict.fields.length === 1 ? 'field' : 'fields') + '. Pick what to keep.',
    };
  }

  // ---- the todo list ----

  function filterTodos(todos, filter) {
    if (filter === 'active') return todos.filter(function (t) { return !t.done; });
    if (filter === 'done') return todos.filter(function (t) { return t.done; });
    return todos;
  }

  function counts(todos) {
    var done = todos.filter(function (t) { return t.done; }).length;
    return { all: todos.length, active: todos.length - done, done: done };
  }

  /** A suggestion for the other user's edit: the title with a twist. */
  function otherTitle(title) {
    return OTHER_USER + ' says: ' + title;
  }

  // ---- staying fresh ----

  /**
   * Runs `tick` every few seconds while the page is visible and the browser online, and when the
   * page comes back to the front: the apps pull the server's changes (other people's edits show
   * up without a reload) and re-read the fault switch. Returns a function that stops it.
   */
  function everyFewSeconds(tick, everyMs) {
    var run = function () {
      if (document.visibilityState === 'visible' && navigator.onLine) tick();
    };
    var timer = setInterval(run, everyMs || 5000);
    document.addEventListener('visibilitychange', run);
    window.addEventListener('focus', run);
    return function () {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', run);
      window.removeEventListener('focus', run);
    };
  }

  /**
   * Pulls the server's changes every few seconds (and when the page comes to the front), so other
   * people's edits show up without a reload. A change of ours still waiting to be sent is rebased
   * on what a pull brings, and still meets a conflict on the version it was made on.
   */
  function keepFresh(client, resource) {
    return everyFewSeconds(function () {
      client.resource(resource).refresh().catch(function () {});
    });
  }

  /** "Sync now": send what waits, then pull. */
  function syncNow(client, resource) {
    return client
      .flush()
      .then(function () {
        if (navigator.onLine) return client.resource(resource).refresh();
      })
      .catch(function () {});
  }

  // ---- loading offline ----

  /**
   * Registers the service worker that caches the pages, so a reload works offline (the data
   * itself comes from IndexedDB: that part is harborsync's). Marks <html data-offline-ready>.
   */
  function enableOfflineReload() {
    if (!('serviceWorker' in navigator)) return Promise.resolve(false);
    return navigator.serviceWorker
      .register('/sw.js', { scope: '/' })
      .then(function () {
        return navigator.serviceWorker.ready;
      })
      .then(function () {
        document.documentElement.setAttribute('data-offline-ready', '');
        return true;
      })
      .catch(function (error) {
        console.warn('The pages will not load offline:', error);
        return false;
      });
  }

  return {
    TOKEN: TOKEN,
    OTHER_USER: OTHER_USER,
    FILTERS: FILTERS,
    LATENCIES: LATENCIES,
    ERROR_RATES: ERROR_RATES,
    apiUrl: apiUrl,
    newId: newId,
    admin: admin,
    faultsActive: faultsActive,
    errorRateOf: errorRateOf,
    clock: clock,
    ago: ago,
    describeStatus: describeStatus,
    nextRetry: nextRetry,
    errorToShow: errorToShow,
    describeFailed: describeFailed,
    describeEvent: describeEvent,
    followActivity: followActivity,
    titleMemory: titleMemory,
    keepTitle: keepTitle,
    conflictRows: conflictRows,
    conflictTitle: conflictTitle,
    show: show,
    mergeNote: mergeNote,
    filterTodos: filterTodos,
    counts: counts,
    otherTitle: otherTitle,
    everyFewSeconds: everyFewSeconds,
    keepFresh: keepFresh,
    syncNow: syncNow,
    enableOfflineReload: enableOfflineReload,
  };
});
