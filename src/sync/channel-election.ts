import type { Clock } from '../env.js';
import type { BroadcastChannelLike } from '../types.js';
import { openChannel } from './broadcast.js';

/**
 * Told when this tab starts or stops leading. `stillLeads`, where given, is asked before each
 * send: a leadership that may have lapsed unnoticed (a lease) says so there.
 */
export type OnLeader = (leader: boolean, stillLeads?: () => boolean) => void;

/** The BroadcastChannel the tabs of one namespace elect their sender on, where Web Locks are missing. */
export const electionChannelName = (namespace: string) => `harborsync:${namespace}:election`;

/** What electing tabs tell each other; `id` is the sender's tab id. */
export type ElectionMessage =
  /** I will lead unless a leader answers, or a tab with a lower id claims too (rivals claim back). */
  | { t: 'claim'; id: string }
  /** I lead (a heartbeat, and the answer to a claim). */
  | { t: 'lead'; id: string }
  /** I stop leading or claiming (closed, or the page is going away): claim now. */
  | { t: 'resign'; id: string };

export interface ElectionTiming {
  /** How long a claimant waits for a leader's answer or a rival claim before it leads. */
  claimMs: number;
  /** How often the leader says it leads. */
  heartbeatMs: number;
  /** A leader not heard from for this long is taken for dead, and the followers claim. */
  leaseMs: number;
}

/**
 * Firestore's primary lease is 5 s with 4 s renewals; ours is shorter because a replaced leader
 * costs nothing but an idempotent repeat. Background tabs run timers at most once a second, so the
 * lease spans several heartbeats.
 */
export const ELECTION_TIMING: ElectionTiming = /* @__PURE__ */ Object.freeze({ claimMs: 250, heartbeatMs: 1_000, leaseMs: 4_000 });

/** Split-brain rule, the same in every tab: of two leaders (or two claimants) the lower id stays. */
const outranks = (a: string, b: string) => a < b;

/**
 * Elects one sender among the tabs of a namespace over a BroadcastChannel, for where Web Locks are
 * missing. A tab claims and leads unless a leader answers within `claimMs`; the leader heartbeats;
 * followers claim again when it resigns or falls silent for `leaseMs`. Two leaders that hear each
 * other (a healed partition, crossed claims) settle by id: the higher one follows. A leader whose
 * own heartbeat came a lease late (a frozen or throttled page) assumes it was replaced and claims
 * again instead of asserting itself.
 *
 * A stray second leader is harmless (idempotency keys); the election keeps the sending to one tab
 * and `status$.leader` honest. Returns a function that leaves the election (announcing it if
 * leading). Calling it twice is harmless.
 */
export function electByChannel(
  Channel: new (name: string) => BroadcastChannelLike,
  namespace: string,
  id: string,
  clock: Clock,
  onLeader: OnLeader,
): () => void {
  const timing = ELECTION_TIMING;
  let role: 'claiming' | 'leading' | 'following' = 'claiming';
  /** The tab followed; null after yielding to a rival claim, until it leads. */
  let followed: string | null = null;
  let lastBeatAt = 0;
  let cancelTimer: (() => void) | null = null;
  let left = false;

  const setTimer = (callback: () => void, ms: number) => {
    cancelTimer?.();
    cancelTimer = clock.setTimer(callback, ms);
  };
  const beat = () => {
    lastBeatAt = clock.now();
    channel.post({ t: 'lead', id });
    setTimer(renew, timing.heartbeatMs);
  };
  /** False once our own heartbeat is a lease late (a frozen or throttled page): the others have likely moved on. */
  const holdsLease = () => clock.now() - lastBeatAt < timing.leaseMs;
  const renew = () => {
    if (holdsLease()) return beat();
    // Ask before sending again.
    role = 'following';
    onLeader(false);
    claim();
  };
  const lead = () => {
    role = 'leading';
    followed = null;
    beat();
    // Asked before each send: a page woken a lease late sends nothing until it has led again.
    onLeader(true, () => !left && role === 'leading' && holdsLease());
  };
  const claim = () => {
    role = 'claiming';
    followed = null;
    channel.post({ t: 'claim', id });
    setTimer(lead, timing.claimMs);
  };
  const follow = (leader: string | null) => {
    const wasLeading = role === 'leading';
    role = 'following';
    followed = leader;
    setTimer(claim, timing.leaseMs);
    if (wasLeading) onLeader(false);
  };
  const heard = (message: ElectionMessage) => {
    if (left || typeof message.id !== 'string' || message.id === id) return;
    if (role === 'leading' && !holdsLease()) return renew();
    if (message.t === 'lead') {
      if (role === 'leading' && outranks(id, message.id)) beat();
      else follow(message.id);
    } else if (message.t === 'claim') {
      if (role === 'leading') beat();
      else if (role === 'claiming' && outranks(message.id, id)) follow(null);
      // The rival may have opened after our claim went out: claim again, for it to yield.
      else if (role === 'claiming') channel.post({ t: 'claim', id });
    } else if (message.t === 'resign') {
      if (role === 'following' && (followed === null || followed === message.id)) claim();
    }
  };

  const channel = openChannel<ElectionMessage>(Channel, electionChannelName(namespace), heard);
  if (channel.shared) claim();
  else {
    // The channel could not be made after all: alone, as without BroadcastChannel.
    role = 'leading';
    onLeader(true);
  }
  return () => {
    if (left) return;
    left = true;
    cancelTimer?.();
    // A claimant says so too: a tab that yielded to its claim would wait a lease before claiming again.
    if (role !== 'following') channel.post({ t: 'resign', id });
    if (role === 'leading') onLeader(false);
    channel.close();
  };
}
