import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from '../helpers/cli.ts';

/** Debian's chromium (`npx playwright install` cannot download a browser here); MOAT_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.MOAT_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
/** Screenshots of each screen land here (ignored by git). */
export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-results', 'screenshots');
/** The admin's window size the UI is made for. */
export const VIEWPORT = { width: 1280, height: 800 };

/** Starts Chromium; fails (never skips) with what to install when it is missing, or when the UI is not built. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set MOAT_CHROMIUM`);
  if (!existsSync(join(REPO_ROOT, 'dist-renderer', 'index.html'))) throw new Error('the admin UI is not built: run npm run build:renderer (npm run test:e2e does)');
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}

/** A fresh page (its own cookies) at 1280×800 in a fixed time zone, with failures of the page itself collected. */
export async function newPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: VIEWPORT, timezoneId: 'Europe/Berlin', locale: 'en-GB' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/.test(message.text())) errors.push(message.text());
  });
  return { page, errors };
}

/** The whole page; `as: 'window'` only what the window shows where it is scrolled (what sticks, where it sticks). */
export async function screenshot(page: Page, name: string, options: { as?: 'page' | 'window' } = {}): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  if (options.as === 'window') {
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
    return;
  }
  // a window as tall as the page: a full-page shot draws what is sticky (header, sidebar, the wizard's buttons) where
  // the first screenful had it, halfway down a long page
  const window = page.viewportSize() ?? VIEWPORT;
  await page.evaluate('window.scrollTo(0, 0)');
  const height = await page.evaluate<number>('document.scrollingElement.scrollHeight');
  if (height > window.height) await page.setViewportSize({ width: window.width, height });
  try {
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
  } finally {
    if (height > window.height) await page.setViewportSize(window);
  }
}
