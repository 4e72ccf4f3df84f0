// API keys for a server that requires them (README "Security"). They live in
// localStorage, never in a cookie: a browser attaches cookies to requests other
// sites make, while these keys go only where this code puts them (the
// Authorization header, and ?key= for the WebSocket, which cannot set headers).

export type KeyKind = 'read' | 'admin';

const STORAGE: Record<KeyKind, string> = { read: 'shoppulse.key.read', admin: 'shoppulse.key.admin' };

type Prompts = { read: string; admin: string };
let prompts: Prompts = {
  read: 'This server needs an API key. Paste a read key:',
  admin: 'This action needs an admin key. Paste an admin key:',
};
/** The texts of the two prompts, in the dashboard's language. */
export function setPromptTexts(p: Prompts): void {
  prompts = p;
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled: keys last for this page only
  }
}

const memory: Partial<Record<KeyKind, string>> = {};

export function getKey(kind: KeyKind): string | null {
  return storage()?.getItem(STORAGE[kind]) ?? memory[kind] ?? null;
}

export function setKey(kind: KeyKind, key: string | null): void {
  const s = storage();
  if (key) {
    memory[kind] = key;
    s?.setItem(STORAGE[kind], key);
  } else {
    delete memory[kind];
    s?.removeItem(STORAGE[kind]);
  }
}

/** The key for a read: the read key, else the admin key (admin includes read). */
export function readKey(): string | null {
  return getKey('read') ?? getKey('admin');
}

export function authHeader(key: string | null): Record<string, string> {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

let askedRead = false;

/**
 * Asks for a key after the server answered 401/403. The read key is asked for
 * once per page load (a cancelled prompt is not repeated on every poll); the
 * admin key each time an admin action needs it. Returns the new key or null.
 */
export function askKey(kind: KeyKind): string | null {
  if (kind === 'read') {
    if (askedRead) return null;
    askedRead = true;
  }
  const answer = globalThis.prompt?.(prompts[kind])?.trim();
  if (!answer) return null;
  setKey(kind, answer);
  return answer;
}

/** The WebSocket URL with the read key, when there is one. */
export function withKey(url: string): string {
  const key = readKey();
  return key ? `${url}${url.includes('?') ? '&' : '?'}key=${encodeURIComponent(key)}` : url;
}
