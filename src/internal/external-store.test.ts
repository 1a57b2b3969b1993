import { BehaviorSubject, Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { withCurrent } from './current.js';
import { createExternalStore, queryKey } from './external-store.js';

interface State {
  data: readonly string[];
  ids: ReadonlySet<string>;
  status: string;
}

const LOADING: State = { data: [], ids: new Set(), status: 'loading' };
const state = (data: string[], status = 'success'): State => ({ data, ids: new Set(data), status });

/** A source offering `current()` and counting its subscriptions. */
function source(initial: State) {
  const subject = new BehaviorSubject(initial);
  let opened = 0;
  let subscribed = 0;
  const open = () => {
    opened++;
    const observable = new Observable<State>((subscriber) => {
      subscribed++;
      // Each subscription starts with an equal copy, as a live query computed anew would.
      return subject.subscribe((value) => subscriber.next({ ...value }));
    });
    return withCurrent(observable, () => subject.value);
  };
  return { subject, open, counts: () => ({ opened, subscribed }) };
}

describe('createExternalStore', () => {
  it('without peek, shows the initial value until subscribed, and opens nothing before', () => {
    const s = source(state(['a']));
    const store = createExternalStore(s.open, LOADING);
    expect(store.getSnapshot()).toBe(LOADING);
    expect(s.counts()).toEqual({ opened: 0, subscribed: 0 });
  });

  it('with peek, the first snapshot is the current value, taken without subscribing; the equal first emission keeps it and notifies no one', () => {
    const s = source(state(['a', 'b']));
    const store = createExternalStore(s.open, LOADING, true);
    const first = store.getSnapshot();
    expect(first).toEqual(state(['a', 'b']));
    expect(store.getSnapshot()).toBe(first);
    expect(s.counts()).toEqual({ opened: 1, subscribed: 0 });

    let notified = 0;
    const stop = store.subscribe(() => notified++);
    expect(s.counts()).toEqual({ opened: 1, subscribed: 1 });
    expect(store.getSnapshot()).toBe(first);
    expect(notified).toBe(0);

    s.subject.next(state(['a', 'b', 'c']));
    expect(store.getSnapshot()).toEqual(state(['a', 'b', 'c']));
    expect(notified).toBe(1);
    stop();
  });

  it('with peek, a change between the peek and the subscription is shown and notified', () => {
    const s = source(state(['a']));
    const store = createExternalStore(s.open, LOADING, true);
    expect(store.getSnapshot().data).toEqual(['a']);
    s.subject.next(state(['a'], 'error'));
    let notified = 0;
    store.subscribe(() => notified++);
    expect(store.getSnapshot().status).toBe('error');
    expect(notified).toBe(1);
  });

  it('with peek, a snapshot while no listener is subscribed (hidden, say) shows the current value, the same object while equal', () => {
    const s = source(state(['a']));
    const store = createExternalStore(s.open, LOADING, true);
    store.getSnapshot();
    const stop = store.subscribe(() => undefined);
    const shown = store.getSnapshot();
    stop();
    expect(store.getSnapshot()).toBe(shown);

    s.subject.next(state(['a', 'b']));
    const now = store.getSnapshot();
    expect(now).toEqual(state(['a', 'b']));
    expect(store.getSnapshot()).toBe(now);
    let notified = 0;
    store.subscribe(() => notified++);
    expect(store.getSnapshot()).toBe(now);
    expect(notified).toBe(0);
    expect(s.counts()).toEqual({ opened: 2, subscribed: 2 });
  });

  it('with peek, a source that cannot be opened throws from getSnapshot', () => {
    const store = createExternalStore<State>(
      () => {
        throw new Error('closed');
      },
      LOADING,
      true,
    );
    expect(() => store.getSnapshot()).toThrow('closed');
  });

  it('with peek, a source that can no longer be opened after a value was shown keeps showing it, unsubscribed and subscribed again', () => {
    const s = source(state(['a']));
    let closed = false;
    const store = createExternalStore(
      () => {
        if (closed) throw new Error('closed');
        return s.open();
      },
      LOADING,
      true,
    );
    const stop = store.subscribe(() => undefined);
    const shown = store.getSnapshot();
    stop();
    closed = true;
    expect(store.getSnapshot()).toBe(shown);
    store.subscribe(() => undefined);
    expect(store.getSnapshot()).toBe(shown);
  });

  it('a source that cannot be opened before any value was shown: the snapshot throws its error', () => {
    const store = createExternalStore<ReturnType<typeof state>>(() => {
      throw new Error('closed');
    }, LOADING);
    let told = 0;
    store.subscribe(() => told++);
    expect(told).toBe(1);
    expect(() => store.getSnapshot()).toThrow('closed');
  });

  it('with peek on a source offering no current value, shows the initial value', () => {
    const store = createExternalStore(() => new BehaviorSubject(state(['a'])), LOADING, true);
    expect(store.getSnapshot()).toBe(LOADING);
    store.subscribe(() => undefined);
    expect(store.getSnapshot()).toEqual(state(['a']));
  });
});

describe('queryKey', () => {
  it('tells apart queries whose where holds different Dates or a bigint and a number, and equates equal ones: a hook resubscribes exactly when the rows change', () => {
    const on = (due: unknown) => queryKey({ where: { due } });
    expect(on(new Date(1))).toBe(on(new Date(1)));
    expect(on(new Date(1))).not.toBe(on(new Date(2)));
    expect(on(new Date(1))).not.toBe(on(new Date(1).toISOString()));
    expect(on(1n)).toBe(on(1n));
    expect(on(1n)).not.toBe(on(1));
    expect(on(1n)).not.toBe(on('1'));
  });
});
