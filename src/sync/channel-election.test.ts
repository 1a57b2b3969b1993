import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { BroadcastHub, type FakePage } from '../../test/helpers/tabs.js';
import { ELECTION_TIMING, electByChannel, electionChannelName, type ElectionMessage } from './channel-election.js';

const { claimMs, heartbeatMs, leaseMs } = ELECTION_TIMING;
/** Virtual time per step; messages are delivered between steps, so a claim is answered within two. */
const STEP = 50;

/** Lets the hub's deliveries (each a task, an answer another) run. */
const tasks = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

interface Tab {
  id: string;
  clock: ManualClock;
  page: FakePage;
  /** Every leadership change reported, in order. */
  seen: boolean[];
  readonly leader: boolean;
  /** What the election answers before a send. */
  stillLeads(): boolean;
  leave(): void;
}

/** Tabs of one namespace, each with its own page (to freeze) and clock (stopped while frozen). */
function browser() {
  const hub = new BroadcastHub();
  const tabs: Tab[] = [];
  const live = () => tabs.filter((t) => !t.page.frozen);
  return {
    hub,
    tab(id: string): Tab {
      const { Channel, page } = hub.page();
      // A page opened later starts at the others' time.
      const clock = new ManualClock(live()[0]?.clock.now());
      const seen: boolean[] = [];
      let stillLeads: (() => boolean) | undefined;
      const leave = electByChannel(Channel, 'ns', id, clock, (leader, check) => {
        seen.push(leader);
        stillLeads = check;
      });
      const tab = {
        id,
        clock,
        page,
        seen,
        leave,
        get leader() {
          return seen.at(-1) ?? false;
        },
        stillLeads: () => stillLeads?.() ?? false,
      };
      tabs.push(tab);
      return tab;
    },
    /** Lets `ms` pass on every page not frozen. */
    async run(ms: number): Promise<void> {
      for (let passed = 0; passed < ms; passed += STEP) {
        for (const tab of live()) await tab.clock.advance(STEP);
        await tasks();
      }
    },
    /** The page wakes: its clock catches up with the others, then it handles what waited. */
    thaw(tab: Tab): void {
      const others = live()[0];
      if (others) tab.clock.jump(others.clock.now() - tab.clock.now());
      tab.page.thaw();
    },
    leaders: () => tabs.filter((t) => t.leader).map((t) => t.id),
    /** Election messages posted since `from` (an index into the hub's log). */
    posted: (from = 0) => hub.posted.slice(from).map((p) => p.data as ElectionMessage),
    leaveAll: () => {
      for (const t of tabs) t.leave();
    },
  };
}

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const leave of cleanup.splice(0)) leave();
});
function opened() {
  const b = browser();
  cleanup.push(b.leaveAll);
  return b;
}

describe('electByChannel', () => {
  it("runs on the README's channel and timings: 'harborsync:{namespace}:election', a claim answered within 250 ms, a heartbeat each second, a lease of 4 s", () => {
    expect(electionChannelName('ns')).toBe('harborsync:ns:election');
    expect(ELECTION_TIMING).toEqual({ claimMs: 250, heartbeatMs: 1_000, leaseMs: 4_000 });
  });

  it('a lone tab claims, and leads once no leader answered within claimMs', async () => {
    const b = opened();
    const a = b.tab('a');
    await b.run(claimMs - STEP);
    expect(a.seen).toEqual([]);
    await b.run(2 * STEP);
    expect(a.seen).toEqual([true]);
    expect(b.posted()).toEqual([{ t: 'claim', id: 'a' }, { t: 'lead', id: 'a' }]);
    expect(b.hub.posted.every((p) => p.name === electionChannelName('ns'))).toBe(true);
  });

  it('of tabs opened together exactly one leads, the lowest id; no other ever says it leads', async () => {
    const b = opened();
    const [m, a, z] = [b.tab('m'), b.tab('a'), b.tab('z')];
    await b.run(claimMs + 2 * STEP);
    expect(b.leaders()).toEqual(['a']);
    expect(a.seen).toEqual([true]);
    expect([m.seen, z.seen]).toEqual([[], []]);
  });

  it('a tab opened later follows the sitting leader, whatever its id', async () => {
    const b = opened();
    const m = b.tab('m');
    await b.run(claimMs + STEP);
    const a = b.tab('a');
    await b.run(leaseMs);
    expect(b.leaders()).toEqual(['m']);
    expect(a.seen).toEqual([]);
    expect(m.seen).toEqual([true]);
  });

  it('keeps one leader over many leases: it heartbeats, the followers never claim', async () => {
    const b = opened();
    b.tab('a');
    b.tab('b');
    await b.run(claimMs + 2 * STEP);
    const since = b.hub.posted.length;
    await b.run(5 * leaseMs);
    expect(b.leaders()).toEqual(['a']);
    const posted = b.posted(since);
    expect(posted.filter((m) => m.t !== 'lead')).toEqual([]);
    expect(posted.length).toBeGreaterThanOrEqual((5 * leaseMs) / heartbeatMs - 1);
  });

  it('a leader that leaves says so; the lowest remaining id leads within claimMs, and no other tab leads meanwhile', async () => {
    const b = opened();
    const [a, c, bb] = [b.tab('a'), b.tab('c'), b.tab('b')];
    await b.run(claimMs + 2 * STEP);
    a.leave();
    expect(a.seen).toEqual([true, false]);
    expect(b.posted().at(-1)).toEqual({ t: 'resign', id: 'a' });
    await b.run(claimMs + 2 * STEP);
    expect(b.leaders()).toEqual(['b']);
    expect(bb.seen).toEqual([true]);
    expect(c.seen).toEqual([]);
  });

  it('a leader whose page dies silently is replaced once its lease runs out, not before', async () => {
    const b = opened();
    const a = b.tab('a');
    const c = b.tab('c');
    await b.run(claimMs + 2 * STEP);
    expect(b.leaders()).toEqual(['a']);
    a.page.freeze(); // never thawed: gone without a word
    await b.run(leaseMs - heartbeatMs);
    expect(c.seen).toEqual([]);
    await b.run(heartbeatMs + claimMs + 2 * STEP);
    expect(c.seen).toEqual([true]);
  });

  it('split-brain: two leaders that come to hear each other settle on the lower id; the other resigns', async () => {
    const b = opened();
    b.hub.drop = () => true; // a partition: neither hears the other
    const [y, x] = [b.tab('y'), b.tab('x')];
    await b.run(claimMs + 2 * STEP);
    expect(b.leaders().sort()).toEqual(['x', 'y']);
    b.hub.drop = () => false;
    await b.run(heartbeatMs + 2 * STEP);
    expect(b.leaders()).toEqual(['x']);
    expect(y.seen).toEqual([true, false]);
    expect(x.seen).toEqual([true]);
    await b.run(2 * leaseMs);
    expect(b.leaders()).toEqual(['x']);
    expect(y.seen).toEqual([true, false]);
  });

  it('a frozen leader replaced meanwhile wakes, finds its lease lapsed, and follows instead of asserting itself', async () => {
    const b = opened();
    const a = b.tab('a');
    const c = b.tab('c');
    await b.run(claimMs + 2 * STEP);
    a.page.freeze();
    await b.run(leaseMs + claimMs + 2 * STEP);
    expect(b.leaders().sort()).toEqual(['a', 'c']); // a does not know yet: it is frozen
    const since = b.hub.posted.length;
    b.thaw(a);
    await b.run(claimMs + 2 * STEP);
    expect(b.leaders()).toEqual(['c']);
    expect(a.seen).toEqual([true, false]);
    expect(c.seen).toEqual([true]);
    expect(b.posted(since)).not.toContainEqual({ t: 'lead', id: 'a' });
  });

  it('a leader woken a lease late says it may no longer lead before its own timer has run', async () => {
    const b = opened();
    const a = b.tab('a');
    await b.run(claimMs + 2 * STEP);
    await b.run(2 * leaseMs);
    expect(a.stillLeads()).toBe(true);
    // The page slept: its clock moved on, its timers have not run yet.
    a.clock.jump(leaseMs);
    expect(a.seen).toEqual([true]);
    expect(a.stillLeads()).toBe(false);
    // Its timer runs: it steps down, claims, and (alone) leads again.
    await b.run(claimMs + 2 * STEP);
    expect(a.seen).toEqual([true, false, true]);
    expect(a.stillLeads()).toBe(true);
    a.leave();
    expect(a.stillLeads()).toBe(false);
  });

  it('a tab that leaves while it claims says so: a tab that yielded to its claim claims again at once, not a lease later', async () => {
    const b = opened();
    const later = b.tab('b');
    const first = b.tab('a');
    // b's claim went out before a listened; a's claim makes b yield, and a's claim again answers b's.
    await b.run(2 * STEP);
    expect(b.leaders()).toEqual([]);
    first.leave();
    await b.run(2 * claimMs + 2 * STEP);
    expect(b.leaders()).toEqual(['b']);
    expect([first.seen, later.seen]).toEqual([[], [true]]);
  });

  it('leaving stops its timers and closes its channel; leaving twice is harmless', async () => {
    const b = opened();
    const a = b.tab('a');
    const c = b.tab('c');
    await b.run(claimMs + 2 * STEP);
    a.leave();
    a.leave();
    c.leave();
    expect(a.seen).toEqual([true, false]);
    expect(c.seen).toEqual([]);
    expect([a.clock.pendingTimers, c.clock.pendingTimers]).toEqual([0, 0]);
    expect(b.hub.open()).toBe(0);
    await b.run(leaseMs);
    expect(b.posted().filter((m) => m.t === 'resign')).toEqual([{ t: 'resign', id: 'a' }]);
  });

  it('ignores its own id and what is not an election message', async () => {
    const b = opened();
    const a = b.tab('a');
    const stranger = new b.hub.Channel(electionChannelName('ns'));
    stranger.postMessage({ t: 'lead', id: 'a' });
    stranger.postMessage({ t: 'lead' });
    stranger.postMessage('lead');
    await b.run(claimMs + 2 * STEP);
    expect(a.seen).toEqual([true]);
    stranger.close();
  });

  it('leads at once, alone, when the channel cannot be made', () => {
    const Broken = class {
      constructor() {
        throw new Error('not here');
      }
    } as unknown as new (name: string) => never;
    const clock = new ManualClock();
    const seen: boolean[] = [];
    const leave = electByChannel(Broken, 'ns', 'a', clock, (leader) => seen.push(leader));
    expect(seen).toEqual([true]);
    expect(clock.pendingTimers).toBe(0);
    leave();
    expect(seen).toEqual([true, false]);
  });
});
