// The shoppulse binary as the browser tests start and stop it. Given
// `--port 0` it binds a free port and prints "listening on http://HOST:PORT";
// the tests read the port from there instead of guessing one.
import { spawn } from 'node:child_process';

/**
 * Starts `binary` with `args` and resolves once it has printed the port it
 * listens on: `{ proc, port, url, log() }`, `log()` being its stderr so far.
 * Rejects if it exits first or prints no port within `timeoutMs`.
 */
export function startShoppulse(binary, args, timeoutMs = 20000) {
  const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not print its port:\n' + out + err)), timeoutMs);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({ proc, port, url: `http://127.0.0.1:${port}`, log: () => err });
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code ?? signal}:\n${out}${err}`));
    });
  });
}

/** Stops a started server with `signal`, and with SIGKILL if it has not exited 10 s later. */
export async function stopShoppulse(proc, signal = 'SIGTERM') {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  let timer;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10000)))]);
  clearTimeout(timer);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}
