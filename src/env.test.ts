import { BehaviorSubject, Subject } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveEnv } from './env.js';

afterEach(() => {
  vi.unstubAllGlobals();
});

/** A page's window and document, as far as lifecycle events go. */
function stubPage() {
  const window = new EventTarget();
  const document = new EventTarget();
  vi.stubGlobal('document', document);
  vi.stubGlobal('addEventListener', window.addEventListener.bind(window));
  vi.stubGlobal('removeEventListener', window.removeEventListener.bind(window));
  return { window, document };
}

describe('resolveEnv: the page lifecycle', () => {
  it('is suspended from freeze or pagehide until resume or pageshow, and stops listening when unsubscribed', () => {
    const { window, document } = stubPage();
    const seen: boolean[] = [];
    const subscription = resolveEnv({}).suspended$.subscribe((s) => seen.push(s));
    document.dispatchEvent(new Event('freeze'));
    document.dispatchEvent(new Event('resume'));
    window.dispatchEvent(new Event('pagehide'));
    window.dispatchEvent(new Event('pageshow'));
    expect(seen).toEqual([false, true, false, true, false]);
    subscription.unsubscribe();
    document.dispatchEvent(new Event('freeze'));
    window.dispatchEvent(new Event('pagehide'));
    expect(seen).toHaveLength(5);
  });

  it('is never suspended outside a page; an injected `suspended` replaces the events', () => {
    const seen: boolean[] = [];
    resolveEnv({}).suspended$.subscribe((s) => seen.push(s)).unsubscribe();
    expect(seen).toEqual([false]);
    const { document } = stubPage();
    const injected = new BehaviorSubject(true);
    const fromSeam: boolean[] = [];
    resolveEnv({ suspended: injected }).suspended$.subscribe((s) => fromSeam.push(s));
    document.dispatchEvent(new Event('resume'));
    injected.next(false);
    expect(fromSeam).toEqual([true, false]);
  });
});

describe('resolveEnv: the page back to the foreground', () => {
  it("emits on the document's visibilitychange to visible, not on the window's focus, and stops listening when unsubscribed", () => {
    const { window, document } = stubPage();
    const page = Object.assign(document, { visibilityState: 'hidden' });
    let seen = 0;
    const subscription = resolveEnv({}).foreground$.subscribe(() => seen++);
    expect(seen).toBe(0);
    document.dispatchEvent(new Event('visibilitychange'));
    window.dispatchEvent(new Event('focus'));
    expect(seen).toBe(0);
    page.visibilityState = 'visible';
    document.dispatchEvent(new Event('visibilitychange'));
    expect(seen).toBe(1);
    subscription.unsubscribe();
    document.dispatchEvent(new Event('visibilitychange'));
    expect(seen).toBe(1);
  });

  it('never emits outside a page; an injected `foreground` replaces the events', () => {
    let outside = 0;
    resolveEnv({}).foreground$.subscribe(() => outside++).unsubscribe();
    expect(outside).toBe(0);
    const { document } = stubPage();
    Object.assign(document, { visibilityState: 'visible' });
    const injected = new Subject<void>();
    let fromSeam = 0;
    resolveEnv({ foreground: injected }).foreground$.subscribe(() => fromSeam++);
    document.dispatchEvent(new Event('visibilitychange'));
    injected.next();
    expect(fromSeam).toBe(1);
  });
});

describe('resolveEnv: online', () => {
  it('starts from navigator.onLine and follows the window online/offline events', () => {
    const { window } = stubPage();
    vi.stubGlobal('navigator', { onLine: false });
    const seen: boolean[] = [];
    const subscription = resolveEnv({}).online$.subscribe((o) => seen.push(o));
    window.dispatchEvent(new Event('online'));
    window.dispatchEvent(new Event('offline'));
    subscription.unsubscribe();
    window.dispatchEvent(new Event('online'));
    expect(seen).toEqual([false, true, false]);
  });
});

describe('resolveEnv: the note that the database exists', () => {
  it("is kept in the page's localStorage for the page's IndexedDB, passed or not, not for another one unless given with it", () => {
    const pageStorage = { getItem: () => null, setItem: () => undefined, removeItem: () => undefined };
    vi.stubGlobal('localStorage', pageStorage);
    const pageFactory = {} as IDBFactory;
    vi.stubGlobal('indexedDB', pageFactory);
    const factory = {} as IDBFactory;
    expect(resolveEnv({}).localStorage).toBe(pageStorage);
    expect(resolveEnv({ indexedDB: pageFactory }).localStorage).toBe(pageStorage);
    expect(resolveEnv({ indexedDB: factory }).localStorage).toBeUndefined();
    const given = { ...pageStorage };
    expect(resolveEnv({ indexedDB: factory, localStorage: given }).localStorage).toBe(given);
  });
});
