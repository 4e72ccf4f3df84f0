import { describe, expect, it } from 'vitest';
import { LatestRequest } from '../src/api';

/** A fetch whose answers the test releases one by one, recording what was asked and aborted. */
function fakeFetch() {
  const asked: string[] = [];
  const pending: { url: string; signal?: AbortSignal; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  const fetchJson = <T,>(url: string, signal?: AbortSignal) =>
    new Promise<T>((resolve, reject) => {
      asked.push(url);
      const entry = { url, signal, resolve: resolve as (v: unknown) => void, reject };
      pending.push(entry);
      signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
    });
  return { asked, pending, fetchJson };
}

describe('a view\'s latest request', () => {
  it('asks a url once while it stands, and again after cancel', async () => {
    const f = fakeFetch();
    const r = new LatestRequest(f.fetchJson);
    const first = r.get<number>('/a');
    f.pending[0].resolve(1);
    expect(await first).toBe(1);
    expect(await r.get<number>('/a')).toBeUndefined();
    expect(f.asked).toEqual(['/a']);
    r.cancel();
    const again = r.get<number>('/a');
    f.pending[1].resolve(2);
    expect(await again).toBe(2);
    expect(f.asked).toEqual(['/a', '/a']);
  });

  it('aborts the request a newer url replaces, which then resolves undefined', async () => {
    const f = fakeFetch();
    const r = new LatestRequest(f.fetchJson);
    const old = r.get<number>('/old');
    const fresh = r.get<number>('/new');
    expect(f.pending[0].signal?.aborted).toBe(true);
    expect(await old).toBeUndefined();
    f.pending[1].resolve(7);
    expect(await fresh).toBe(7);
  });

  it('forgets a url whose request failed, so asking again retries it', async () => {
    const f = fakeFetch();
    const r = new LatestRequest(f.fetchJson);
    const failing = r.get<number>('/x');
    f.pending[0].reject(new Error('http_503'));
    await expect(failing).rejects.toThrow('http_503');
    const retry = r.get<number>('/x');
    f.pending[1].resolve(3);
    expect(await retry).toBe(3);
    expect(f.asked).toEqual(['/x', '/x']);
  });
});
