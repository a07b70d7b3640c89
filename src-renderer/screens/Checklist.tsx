import { useEffect, useState } from 'react';
import type { Output } from '../../src-relay/admin/contract.ts';
import { call } from '../api/client.ts';
import { useAction, useCall, useNow } from '../api/hooks.ts';
import { Badge, Empty, ErrorMessage, Loading, PageHeader, StatusLine, Time } from '../components/ui.tsx';
import { MANUAL_STATE, probeStatusWords } from '../lib/words.ts';

type Checklist = Output<'checklist.get'>;
type ManualItem = Checklist['manual'][number];

const PROBE_ORDER = { failing: 0, warning: 1, unknown: 2, ok: 3 } as const;
/** How long after its time a scheduled run's results are fetched: the probes take up to about this long. */
const SCHEDULED_RUN_GRACE_MS = 60_000;

/** The patch-status checklist: the automatic probes (run now or on their schedule) and the admin's own ticks. */
export function ChecklistScreen({ highlight = null, onChecklist }: { highlight?: string | null; onChecklist?: (checklist: Output<'checklist.get'>) => void }) {
  const checklist = useCall('checklist.get', {});
  const running = useAction();
  const [report, setReport] = useState('');
  const now = useNow(60_000, checklist.data);

  const runNow = async () => {
    const result = await running.run(() => call('checklist.run', {}));
    if (result) {
      checklist.replaceData(result);
      onChecklist?.(result);
      const failing = result.probes.filter((probe) => probe.status === 'failing').length;
      setReport(failing ? `Checked. ${failing} ${failing === 1 ? 'probe is' : 'probes are'} failing.` : 'Checked.');
    }
  };

  const data = checklist.data;
  const probes = data ? [...data.probes].sort((a, b) => PROBE_ORDER[a.status] - PROBE_ORDER[b.status] || a.title.localeCompare(b.title)) : [];

  // a scheduled run that has passed since the page loaded: its results are fetched (once per run)
  const nextRunAt = data?.schedule.nextRunAt ?? null;
  const reload = checklist.reload;
  const passed = nextRunAt !== null && now > nextRunAt + SCHEDULED_RUN_GRACE_MS;
  useEffect(() => {
    if (passed) void reload();
  }, [passed, nextRunAt, reload]);

  // a link (a desktop notification) that names a check scrolls to it once the list is there
  const hasData = Boolean(data);
  useEffect(() => {
    if (hasData && highlight) document.getElementById(`probe-${highlight}`)?.scrollIntoView({ block: 'center' });
  }, [hasData, highlight]);

  return (
    <div>
      <PageHeader title="Checklist">
        <button type="button" className="primary" onClick={() => void runNow()} disabled={running.busy}>
          {running.busy ? 'Running…' : 'Run now'}
        </button>
      </PageHeader>
      <p className="intro">Keeping the box patched: what Moat checks by itself, and what only you can check.</p>
      {data ? <ScheduleLine schedule={data.schedule} now={now} /> : null}
      {report ? <StatusLine>{report}</StatusLine> : null}
      <ErrorMessage error={running.error} />
      {checklist.error && !data ? <ErrorMessage error={checklist.error} onRetry={() => void checklist.reload()} /> : null}
      {!data && checklist.loading ? <Loading label="Loading the checklist…" /> : null}
      {data ? (
        <>
          <section className="panel" aria-labelledby="probes-title">
            <h2 id="probes-title">Automatic checks</h2>
            {probes.length === 0 ? (
              <Empty>No checks yet.</Empty>
            ) : (
              <table className="data-table probes">
                <thead>
                  <tr>
                    <th scope="col">Check</th>
                    <th scope="col">State</th>
                    <th scope="col">Result</th>
                    <th scope="col">Last run</th>
                  </tr>
                </thead>
                <tbody>
                  {probes.map((probe) => {
                    const status = probeStatusWords(probe);
                    return (
                      <tr key={probe.id} id={`probe-${probe.id}`} className={probe.id === highlight ? 'highlighted' : undefined} aria-current={probe.id === highlight ? 'true' : undefined}>
                        <th scope="row">{probe.title}</th>
                        <td>
                          <Badge tone={status.tone}>{status.label}</Badge>
                        </td>
                        <td>
                          {probe.detail}
                          {probe.hint && probe.status !== 'ok' ? (
                            <p className="hint-text">
                              <span className="hint-label">What to do:</span> {probe.hint}
                            </p>
                          ) : null}
                        </td>
                        <td>{probe.checkedAt ? <Time ms={probe.checkedAt} relative now={now} /> : <span className="muted">not yet</span>}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
          </section>
          <section className="panel" aria-labelledby="manual-title">
            <h2 id="manual-title">Things to check yourself</h2>
            {data.manual.length === 0 ? (
              <Empty>No manual items.</Empty>
            ) : (
              <ul className="manual-items">
                {data.manual.map((item) => (
                  <ManualRow key={item.id} item={item} onChange={(next) => checklist.replaceData(next)} />
                ))}
              </ul>
            )}
          </section>
        </>
      ) : null}
    </div>
  );
}

function ManualRow({ item, onChange }: { item: ManualItem; onChange: (checklist: Checklist) => void }) {
  const [note, setNote] = useState(item.note ?? '');
  const action = useAction();
  const state = MANUAL_STATE[item.state];
  const noteId = `note-${item.id}`;
  const tick = async (done: boolean) => {
    const result = await action.run(() => call('checklist.tick', { item: item.id, done, note: note.trim() || null }));
    if (result) onChange(result);
  };
  // the note alone: saving it is not doing the check again (the date and the state stay)
  const saveNote = async () => {
    const result = await action.run(() => call('checklist.note', { item: item.id, note: note.trim() || null }));
    if (result) onChange(result);
  };
  const done = item.state === 'done';
  return (
    <li className="manual-item">
      <div className="manual-main">
        <input id={`tick-${item.id}`} type="checkbox" checked={done} disabled={action.busy} onChange={(event) => void tick(event.target.checked)} />
        <label htmlFor={`tick-${item.id}`}>{item.text}</label>
        <Badge tone={state.tone}>{state.label}</Badge>
      </div>
      <p className="muted small">
        {item.tickedAt ? (
          <>
            Last done <Time ms={item.tickedAt} />.{' '}
          </>
        ) : null}
        Check again every {item.reviewDays} {item.reviewDays === 1 ? 'day' : 'days'}.
      </p>
      <div className="manual-note">
        <label htmlFor={noteId}>Note</label>
        <input id={noteId} type="text" aria-label={`Note for ${item.text}`} value={note} maxLength={500} onChange={(event) => setNote(event.target.value)} placeholder="What was done, and when" />
        <button type="button" onClick={() => void saveNote()} disabled={action.busy || note === (item.note ?? '')} aria-label={`Save note for ${item.text}`}>
          Save note
        </button>
      </div>
      <ErrorMessage error={action.error} />
    </li>
  );
}

/** When the automatic checks run by themselves: a fresh relay shows "not run yet" until then, which reads as broken without it. */
function ScheduleLine({ schedule, now }: { schedule: Checklist['schedule']; now: number }) {
  if (schedule.everyHours <= 0 || schedule.nextRunAt === null) {
    return (
      <p className="muted" data-testid="checklist-schedule">
        The automatic checks run only when you click Run now (Settings › Alerts › Run the checklist every: 0 hours).
      </p>
    );
  }
  const every = schedule.everyHours === 1 ? 'every hour' : `every ${schedule.everyHours} hours`;
  return (
    <p className="muted" data-testid="checklist-schedule">
      The automatic checks run {every}; next run <Time ms={Math.max(schedule.nextRunAt, now)} relative now={now} /> (<Time ms={schedule.nextRunAt} />). Run now checks at once.
    </p>
  );
}
