import { describe, expect, it } from 'vitest';
import { HttpError, isHarborSyncError, ValidationError } from './errors.js';

describe('isHarborSyncError', () => {
  it("is false for other libraries' errors that carry a string code (axios, Node, Firebase): an app's handler must not take them for harborsync's", () => {
    const others = [
      Object.assign(new Error('Network Error'), { name: 'AxiosError', code: 'ERR_NETWORK' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8787'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('Firebase: Error (auth/user-not-found).'), { name: 'FirebaseError', code: 'auth/user-not-found' }),
      Object.assign(new Error('not ours'), { name: 'HttpError', code: 'E_HTTP' }),
    ];
    for (const error of others) expect(isHarborSyncError(error), error.message).toBe(false);
  });

  it("is true for harborsync's errors, also a copy from another bundle (the script-tag build) that is not an instance of this one's classes", () => {
    const validation = new ValidationError([{ field: 'title', message: 'required' }], { resource: 'todos', id: 't1' });
    expect(isHarborSyncError(validation)).toBe(true);
    expect(isHarborSyncError(validation, 'ValidationError')).toBe(true);
    expect(isHarborSyncError(validation, 'HttpError')).toBe(false);
    const fromOtherBundle = Object.assign(new Error('todos/t1: PATCH /api/todos/t1 answered 422'), { name: 'HttpError', code: 'HTTP', status: 422 });
    expect(fromOtherBundle).not.toBeInstanceOf(HttpError);
    expect(isHarborSyncError(fromOtherBundle, 'HttpError')).toBe(true);
    expect(isHarborSyncError('HTTP')).toBe(false);
  });
});
