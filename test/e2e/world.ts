import { test, after } from 'node:test';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { ServeProcess, REPO_ROOT } from '../helpers/cli.ts';
import { AdminClient, ADMIN_PASSWORD } from '../helpers/admin.ts';
import { Sink, reservePort, type SinkOptions } from '../helpers/sink.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { launchBrowser, newPage, screenshot, VIEWPORT } from './browser.ts';

export { ADMIN_PASSWORD };

/** One e2e test starts a relay (tsx compiles on the first start), a browser context and waits for real deliveries. */
export const E2E_TEST_TIMEOUT_MS = 120_000;
/** How long a UI expectation may take: live updates are throttled to 2 s, and a loaded CI box is slow. */
export const UI_TIMEOUT_MS = 20_000;
/** The failed test's page and relay log land here, next to the screenshots (ignored by git). */
const FAILURE_DIR = join(REPO_ROOT, 'test-results', 'e2e-failures');

/** "moat ready mx=127.0.0.1:40123 admin=127.0.0.1:40124 data-dir=..." */
const READY_ADMIN = /^moat ready mx=\S+ .*?admin=(\S+) /m;

/** One Chromium per test file; each test gets its own context (cookies, storage) from it. */
let browser: Promise<Browser> | null = null;
function sharedBrowser(): Promise<Browser> {
  browser ??= launchBrowser();
  return browser;
}
/** Worlds not closed yet: a test that timed out is still awaiting, and its relay must not outlive the file. */
const open = new Set<World>();
after(async () => {
  for (const world of open) await world.close();
  if (browser) await (await browser).close();
});

/** A relay started by `moat serve` for one test: its admin page, its mx port, and the child itself. */
export interface ServedRelay {
  serve: ServeProcess;
  /** http://127.0.0.1:PORT (the admin page and API). */
  base: string;
  mxPort: number;
}

/**
 * Everything one test owns (habit 18): a fresh data directory, its `moat serve` child, its sinks and browser
 * contexts. `close()` stops and removes all of it after the test, whether it passed or failed; the file's `after`
 * closes what a timed-out test left.
 */
export class World {
  readonly dataDir = tempDir('moat-e2e-');
  private readonly cleanups: (() => Promise<unknown> | unknown)[] = [];
  private readonly serves: ServeProcess[] = [];
  private readonly pages: Page[] = [];

  constructor() {
    open.add(this);
  }

  /** A Sink (the internal Exchange) on 127.0.0.1, on `options.port` when given. */
  async sink(options: SinkOptions = {}): Promise<Sink> {
    const sink = await Sink.start(options);
    this.cleanups.push(() => sink.stop());
    return sink;
  }

  /** `moat serve` on a data dir whose moat.json is `config` (mx and admin on 127.0.0.1:0). */
  async serveConfigured(config: Record<string, unknown>): Promise<ServedRelay> {
    writeFileSync(join(this.dataDir, 'moat.json'), JSON.stringify({ hostname: 'relay.example.test', mx: { listen: '127.0.0.1:0' }, shutdownGraceSec: 1, ...config }, null, 2));
    const serve = await ServeProcess.start(['--data-dir', this.dataDir, '--admin-listen', '127.0.0.1:0']);
    this.track(serve);
    const admin = READY_ADMIN.exec(serve.stdout)?.[1];
    if (!admin) throw new Error(`no admin address in the ready line: ${serve.stdout}`);
    return { serve, base: `http://${admin}`, mxPort: serve.port };
  }

  /**
   * A configured relay whose internal server is down (its port reserved, nothing listening), so mail waits in the
   * queue with one long retry interval: only an admin's button makes it due again within a test. Filters off unless
   * `config` says otherwise (its keys replace the defaults'). Claimed, with a page logged in.
   */
  async serveWithInternalDown(config: Record<string, unknown> = {}): Promise<{ relay: ServedRelay; internalPort: number; admin: AdminClient; page: Page; errors: string[] }> {
    const internalPort = await reservePort();
    const relay = await this.serveConfigured({
      domains: ['example.test'],
      internal: { host: '127.0.0.1', port: internalPort, tls: 'none' },
      queue: { retryIntervalsSec: [3600] },
      filters: { enabled: false },
      ...config,
    });
    const admin = await this.claim(relay);
    const { page, errors } = await this.page();
    await logIn(page, relay.base);
    return { relay, internalPort, admin, page, errors };
  }

  /** `moat serve` on an empty data dir: it waits for its setup and prints the one-time token. */
  async serveFresh(args: string[] = []): Promise<{ serve: ServeProcess; base: string; token: string }> {
    const serve = await ServeProcess.startForSetup(['--data-dir', this.dataDir, '--admin-listen', '127.0.0.1:0', ...args]);
    this.track(serve);
    return { serve, base: `http://${serve.admin}`, token: serve.setupToken };
  }

  /**
   * A claimed relay for example.test whose internal server (a sink) asks to try the `busy` recipients later (451)
   * and takes the rest; retries an hour apart, the junk rules on (mail without a Date scores 11: quarantined).
   */
  async relayWithBusyMailboxes(busy: (address: string) => boolean): Promise<{ sink: Sink; relay: ServedRelay; admin: AdminClient }> {
    const sink = await this.sink({ onRecipient: (address) => (busy(address) ? { code: 451, text: '4.2.1 Mailbox busy, try later' } : undefined) });
    const relay = await this.serveConfigured({
      domains: ['example.test'],
      internal: { host: '127.0.0.1', port: sink.port, tls: 'none' },
      queue: { retryIntervalsSec: [3600] },
      filters: { enabled: true, rules: { MISSING_DATE: 11 } },
    });
    return { sink, relay, admin: await this.claim(relay) };
  }

  /** Sets the admin password through the API (the token is in the data dir), for tests that are not about claiming. */
  async claim(relay: ServedRelay, password = ADMIN_PASSWORD): Promise<AdminClient> {
    const client = new AdminClient(relay.base);
    const token = readFileSync(join(this.dataDir, 'setup-token'), 'utf8').trim();
    await client.call('auth.setup', { token, password });
    return client;
  }

  /** A page in a new browser context (no cookies) at 1280×800, with the page's own errors collected. */
  async page(): Promise<{ page: Page; errors: string[] }> {
    const opened = await newPage(await sharedBrowser());
    opened.page.setDefaultTimeout(UI_TIMEOUT_MS);
    this.pages.push(opened.page);
    this.cleanups.push(() => opened.page.context().close());
    return opened;
  }

  /** Leaves what the failed test saw (each page's screenshot, the relay's log) in test-results/e2e-failures. */
  async keepEvidence(name: string): Promise<void> {
    const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 60);
    mkdirSync(FAILURE_DIR, { recursive: true });
    for (const [index, page] of this.pages.entries()) {
      await page.screenshot({ path: join(FAILURE_DIR, `${slug}-${index}.png`), fullPage: true }).catch(() => undefined);
    }
    for (const [index, serve] of this.serves.entries()) {
      writeFileSync(join(FAILURE_DIR, `${slug}-relay-${index}.log`), `stdout:\n${serve.stdout}\nstderr:\n${serve.stderr}`);
    }
  }

  async close(): Promise<void> {
    open.delete(this);
    for (const cleanup of this.cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    for (const serve of this.serves) if (serve.running) await serve.stop('SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private track(serve: ServeProcess): void {
    this.serves.push(serve);
    // SIGTERM first: a graceful stop is what a real admin does, and it must not hang
    this.cleanups.push(async () => {
      if (!serve.running) return;
      const stopped = serve.stop('SIGTERM');
      const timer = setTimeout(() => serve.running && serve.child.kill('SIGKILL'), 10_000);
      await stopped;
      clearTimeout(timer);
    });
  }
}

/** A test with its own World, torn down however the test ends; a failure keeps its evidence. */
export function e2eTest(name: string, fn: (world: World) => Promise<void>): void {
  test(name, { timeout: E2E_TEST_TIMEOUT_MS }, async () => {
    const world = new World();
    try {
      await fn(world);
    } catch (error) {
      await world.keepEvidence(name);
      throw error;
    } finally {
      await world.close();
    }
  });
}

/** Opens the admin page and logs in through the form; resolves once the dashboard shows. */
export async function logIn(page: Page, base: string, password = ADMIN_PASSWORD): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await heading(page, 'Dashboard').waitFor();
}

/** The screen's title (every screen has one h1). */
export function heading(page: Page, name: string): Locator {
  return page.getByRole('heading', { level: 1, name, exact: true });
}

/** Goes to a screen by its hash route (as a link would) and waits for its title. */
export async function openScreen(page: Page, hash: string, title: string): Promise<void> {
  await page.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
  await heading(page, title).waitFor();
}

/** Waits until `locator`'s text matches `pattern` (polling, as Playwright's own expectations do); fails with what it last saw. */
export async function textMatches(locator: Locator, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + UI_TIMEOUT_MS;
  let last: string | null = null;
  for (;;) {
    last = await locator.textContent({ timeout: 1000 }).catch(() => null);
    if (last !== null && pattern.test(last)) return last;
    if (Date.now() > deadline) throw new Error(`expected ${pattern} in ${locator}; ${last === null ? 'it is not on the page' : `its text is ${JSON.stringify(last)}`}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How far the page is wider than the 1280 px window (> 0: something needs horizontal scrolling). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return (await page.evaluate<number>('document.scrollingElement.scrollWidth')) - VIEWPORT.width;
}

export { screenshot };
