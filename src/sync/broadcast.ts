import type { BroadcastChannelLike } from '../types.js';

/** What one tab tells the others of the same namespace. */
export type TabMessage =
  | { t: 'changed'; r: string; ids: string[]; outbox: boolean }
  | { t: 'outbox' }
  | { t: 'settled'; seq: number; value?: Record<string, unknown> | null; error?: { name: string; message: string; status?: number } }
  | { t: 'remapped'; r: string; from: string; to: string }
  | { t: 'cleared' };

export interface TabChannel {
  post(message: TabMessage): void;
  close(): void;
}

export function openTabChannel(
  Channel: (new (name: string) => BroadcastChannelLike) | undefined,
  namespace: string,
  onMessage: (message: TabMessage) => void,
): TabChannel {
  if (!Channel) return { post: () => undefined, close: () => undefined };
  const channel = new Channel(`harborsync:${namespace}`);
  channel.onmessage = (event) => onMessage(event.data as TabMessage);
  let closed = false;
  return {
    post: (message) => {
      if (!closed) channel.postMessage(message);
    },
    close: () => {
      closed = true;
      channel.onmessage = null;
      channel.close();
    },
  };
}
