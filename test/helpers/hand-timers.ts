/** Timers the test fires by hand; `pending` counts those neither fired nor cancelled. */
export function handTimers() {
  const timers = new Set<() => void>();
  const setTimer = (callback: () => void) => {
    timers.add(callback);
    return () => void timers.delete(callback);
  };
  const fire = () => {
    const due = [...timers];
    timers.clear();
    for (const callback of due) callback();
  };
  return { setTimer, fire, pending: () => timers.size };
}

/** Headers at once, then `partial` of a JSON body, and then nothing more, never closing. */
export const stalledBody = (status: number, partial: string) =>
  new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(partial));
      },
    }),
    { status, headers: { 'Content-Type': 'application/json' } },
  );
