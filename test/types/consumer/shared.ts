// @ts-nocheck -- checked by test/types/consumer.test.ts against the built package (the root typecheck has no dist/)
import { z } from 'zod';
import { defineResource } from 'harborsync';

export const todos = defineResource({
  name: 'todos',
  schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
});

export interface Todo {
  id: string;
  title: string;
  done: boolean;
  version: number;
}

/** True when A and B are the same type (not merely assignable). */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export function expectType<T extends true>(): T | void {}
