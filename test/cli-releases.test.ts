import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Releases } from '../src/cli/releases.ts';

describe('cli releases: what a run opened is closed', () => {
  it('runs every release newest first, once; names the ones that throw or do not finish within the bound', async () => {
    const releases = new Releases();
    const order: string[] = [];
    const connection = releases.add('connection', { id: 'c' }, (c) => void order.push(c.id));
    releases.add('queue', 'q', (q) => void order.push(q));
    releases.add('listener', null, () => new Promise<void>(() => {}));
    releases.add('broken', null, () => {
      throw new Error('boom');
    });
    expect(connection).toEqual({ id: 'c' });
    const started = performance.now();
    expect(await releases.releaseAll(100)).toEqual({ stuck: ['listener'], failed: ['broken'] });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(order).toEqual(['q', 'c']);
    expect(await releases.releaseAll(100)).toEqual({ stuck: [], failed: [] });
    expect(order).toEqual(['q', 'c']);
  });

  it('a release with a bound of its own (one that waits on purpose) gets that bound, not the default', async () => {
    const releases = new Releases();
    const wait = (ms: number) => () => new Promise<void>((resolve) => setTimeout(resolve, ms));
    releases.add('drain', null, wait(300), { boundMs: 1_000 });
    releases.add('slow', null, wait(300));
    expect(await releases.releaseAll(100)).toEqual({ stuck: ['slow'], failed: [] });
    releases.add('too slow even for its own', null, () => new Promise<void>(() => {}), { boundMs: 200 });
    const started = performance.now();
    expect(await releases.releaseAll(10_000)).toEqual({ stuck: ['too slow even for its own'], failed: [] });
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('exitWithin: a process held by a handle nobody closed exits with the code after the bound, saying what held it', () => {
    const releasesModule = fileURLToPath(new URL('../src/cli/releases.ts', import.meta.url));
    const script = `import { createServer } from 'node:net'; const { exitWithin } = await import(${JSON.stringify(releasesModule)}); createServer().listen(0, '127.0.0.1'); exitWithin(3, 300);`;
    const started = performance.now();
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(3);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(run.stderr.trim()).toBe('warning: the process did not exit 300 ms after the command ended (still open: TCPServerWrap); forcing exit 3');
    // A timer nobody cleared (a reconnect loop's) is named too, not taken for the watchdog's own.
    const timerScript = `const { exitWithin } = await import(${JSON.stringify(releasesModule)}); setInterval(() => {}, 1000); exitWithin(0, 300);`;
    const heldByTimer = spawnSync(process.execPath, ['--input-type=module', '-e', timerScript], { encoding: 'utf8', timeout: 20_000 });
    expect(heldByTimer.status).toBe(0);
    expect(heldByTimer.stderr.trim()).toBe('warning: the process did not exit 300 ms after the command ended (still open: Timeout); forcing exit 0');
    const clean = spawnSync(process.execPath, ['--input-type=module', '-e', `const { exitWithin } = await import(${JSON.stringify(releasesModule)}); exitWithin(1, 10000);`], { encoding: 'utf8', timeout: 20_000 });
    expect(clean.status).toBe(1);
    expect(clean.stderr).toBe('');
  });
});
