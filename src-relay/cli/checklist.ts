// `moat checklist ...`: the patch-status checklist on the data directory (also while `serve` runs): the latest
// probe results and the manual items, running the probes now, ticking items, the history.
import { hostname as osHostname } from 'node:os';
import type { ConfigProblem, ConfigResult } from '../config/load.ts';
import { Checklist, MANUAL_ITEMS, formatChecklist, formatHistory } from '../monitor/checklist.ts';
import { probeContext, readTlsPair, storedServedCertificate, type MonitorOptions } from '../monitor/index.ts';
import { MonitorStore, STATE_KEYS } from '../monitor/monitor-store.ts';
import { defaultHooks } from '../monitor/default-hooks.ts';
import { AdminAuth } from '../admin/admin-auth.ts';
import { silentLogger } from '../log/logger.ts';
import { openDatabase } from '../store/db.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CommandIo } from './io.ts';
import { missingStore } from '../engine.ts';
import type { SubmissionAddresses } from '../submission/index.ts';

export const CHECKLIST_USAGE = `  moat checklist [run [PROBE]... | tick ITEM [NOTE...] | untick ITEM | note ITEM [NOTE...] | history [PROBE]]   [--data-dir DIR]`;

export interface ChecklistCliContext {
  resolve(): { dataDir: string; configFile: string; result: ConfigResult };
  refuseConfig(configFile: string, problems: ConfigProblem[]): number;
  /** Tests replace the command runner and the like. */
  options?: MonitorOptions;
  clock?: () => number;
}

export async function checklistCommand(args: string[], context: ChecklistCliContext, io: CommandIo): Promise<number> {
  const [action = 'show', ...rest] = args;
  const usage = (message: string) => {
    io.err(`moat: ${message}\nusage:\n${CHECKLIST_USAGE}\nmanual items: ${MANUAL_ITEMS.map((item) => item.id).join(', ')}\n`);
    return EXIT_USAGE;
  };
  if (!['show', 'run', 'tick', 'untick', 'note', 'history'].includes(action)) return usage(`unknown checklist action ${JSON.stringify(action)}`);
  const { dataDir, configFile, result } = context.resolve();
  if (!result.ok) return context.refuseConfig(configFile, result.problems);
  const config = result.config;
  const clock = context.clock ?? Date.now;
  const missing = missingStore(dataDir);
  if (missing) {
    io.err(`moat: ${missing}\n`);
    return EXIT_FAILED;
  }
  const db = openDatabase(dataDir);
  try {
    const store = new MonitorStore(db);
    // `moat serve` always runs the admin host, whose password lives in this database: read it where the host keeps it
    const auth = new AdminAuth({ db, dataDir, clock });
    const hooks = { ...defaultHooks(config, db), adminPasswordSet: () => auth.passwordSet, ...context.options?.hooks };
    const checklist = new Checklist({
      store,
      clock,
      logger: silentLogger,
      context: () =>
        probeContext({
          config,
          dataDir,
          hostname: config.hostname ?? osHostname(),
          store,
          clock,
          options: { ...context.options, hooks },
          mxAddress: store.getState(STATE_KEYS.servedMx) ?? null,
          submissionAddresses: store.getJson<SubmissionAddresses>(STATE_KEYS.servedSubmission) ?? {},
          selfTestHelo: store.getState(STATE_KEYS.selfTestHelo) ?? null,
          adminAddress: store.getState(STATE_KEYS.servedAdmin) ?? null,
          adminError: null,
          tls: () => readTlsPair(config, dataDir),
          // recorded by the running relay (removed when it stops): the files may hold a pair it does not serve yet
          servedCertificate: () => storedServedCertificate(store),
        }),
    });
    const probes = checklist.probeList();
    switch (action) {
      case 'show':
        if (rest.length) return usage(`unexpected arguments: ${rest.join(' ')}`);
        io.out(formatChecklist(checklist.latest(), checklist.manual(), probes));
        return EXIT_OK;
      case 'run': {
        const unknownProbe = rest.find((id) => !probes.some((probe) => probe.id === id));
        if (unknownProbe) return usage(`no probe ${JSON.stringify(unknownProbe)} (probes: ${probes.map((probe) => probe.id).join(', ')})`);
        await checklist.run(rest.length ? rest : undefined);
        io.out(formatChecklist(checklist.latest(), checklist.manual(), probes));
        return EXIT_OK;
      }
      case 'tick':
      case 'untick': {
        const [item, ...note] = rest;
        if (!item) return usage(`checklist ${action} needs an ITEM`);
        if (action === 'untick' && note.length) return usage('untick takes no note');
        if (!checklist.tick(item, { done: action === 'tick', note: note.join(' ') || null })) return usage(`no manual item ${JSON.stringify(item)}`);
        io.out(action === 'tick' ? `${item} ticked (${new Date(clock()).toISOString().slice(0, 10)})\n` : `${item} unticked\n`);
        return EXIT_OK;
      }
      case 'note': {
        const [item, ...note] = rest;
        if (!item) return usage('checklist note needs an ITEM');
        if (!checklist.setNote(item, note.join(' ') || null)) return usage(`no manual item ${JSON.stringify(item)}`);
        io.out(note.length ? `${item}: note saved\n` : `${item}: note cleared\n`);
        return EXIT_OK;
      }
      case 'history': {
        const [probe, ...more] = rest;
        if (more.length) return usage(`unexpected arguments: ${more.join(' ')}`);
        if (probe && !probes.some((entry) => entry.id === probe)) return usage(`no probe ${JSON.stringify(probe)}`);
        io.out(formatHistory(checklist.history(probe ?? null, 200, true)));
        return EXIT_OK;
      }
    }
    return EXIT_FAILED;
  } finally {
    db.close();
  }
}
