// @ts-nocheck -- checked by test/types/consumer.test.ts against the built package (the root typecheck has no dist/)
// A CommonJS consumer: node16 resolves the `require` condition and its .d.cts files.
import { createSyncClient, defineResource } from 'harborsync';
import type { QueryState } from 'harborsync';
import { useQuery } from 'harborsync/react';
import { useSyncStatus } from 'harborsync/vue';

const notes = defineResource({
  name: 'notes',
  schema: {
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (value: unknown) => ({ value: value as { id: string; text: string } }),
      types: { input: {} as { id: string; text: string }, output: {} as { id: string; text: string } },
    },
  },
});
const client = createSyncClient({ baseUrl: '/api', resources: [notes] });
export const query$ = client.resource(notes).query$({ where: { text: 'x' } });

export function useNotes(): QueryState<{ id: string; text: string }> {
  useSyncStatus();
  return useQuery(notes, { orderBy: 'text' });
}
