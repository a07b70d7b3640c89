import { HIDDEN_ARG } from './login-item.ts';

/**
 * How the app was started: as the desktop app, or as the relay's command line (`moat serve`, `moat queue list`,
 * ...: the deb's /usr/bin/moat and its systemd unit run the app's binary that way, without a window).
 */
export type Launch = { kind: 'gui'; hidden: boolean } | { kind: 'cli'; args: string[] };

/** The commands of src-relay/cli.ts; a first argument among them means the command line. */
export const RELAY_COMMANDS = new Set(['serve', 'check', 'queue', 'users', 'dkim', 'backup', 'checklist', 'quarantine', 'senders', 'help']);

/** A Chromium or Electron switch (`--no-sandbox`, `--ozone-platform=headless`) that comes before the command. */
const SWITCH = /^--[a-z0-9][a-z0-9-]*(=.*)?$/;

/**
 * Reads `process.argv`: in a packaged app the arguments start at index 1; run as `electron .` (development) at
 * index 2. Leading switches are Chromium's and are skipped; `--help` alone asks for the relay's usage.
 */
export function parseLaunch(argv: readonly string[], packaged: boolean): Launch {
  const args = argv.slice(packaged ? 1 : 2);
  let index = 0;
  while (index < args.length && SWITCH.test(args[index]!) && args[index] !== '--help' && args[index] !== HIDDEN_ARG) index++;
  const first = args[index];
  if (first === '--help') return { kind: 'cli', args: ['help'] };
  if (first !== undefined && RELAY_COMMANDS.has(first)) return { kind: 'cli', args: args.slice(index) };
  return { kind: 'gui', hidden: args.includes(HIDDEN_ARG) };
}
