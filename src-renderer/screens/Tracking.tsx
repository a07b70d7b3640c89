import { useState, type FormEvent, type KeyboardEvent } from 'react';
import type { Input, Output } from '../../src-relay/admin/contract.ts';
import { navigate, useCall, useLiveReload } from '../api/hooks.ts';
import { DetailPane, MessageDetail } from '../components/MessageDetail.tsx';
import { MessageCell, useRovingRows } from '../components/MessageRows.tsx';
import { Badge, Empty, ErrorMessage, Loading, PageHeader, SelectField, TextField, Time } from '../components/ui.tsx';
import { localZoneName, toLocalDateTimeValue } from '../lib/format.ts';
import { formatHash } from '../lib/route.ts';
import { emptyTrackingForm, quickRange, recipientOutcomeLines, toTrackingInput, TRACKING_OUTCOMES, type QuickRange, type TrackingForm, type TrackingOutcome, type TrackingProblems } from '../lib/tracking.ts';
import { outcomeWords, summarizeList } from '../lib/words.ts';
import { senderKey, senderLabel } from '../lib/sender.ts';

/** Message tracking: find mail by sender, recipient, Message-ID or time, and read what happened to it. */
export function TrackingScreen({ traceId }: { traceId: string | null }) {
  const [form, setForm] = useState<TrackingForm>(emptyTrackingForm);
  const [problems, setProblems] = useState<TrackingProblems>({});
  // a search the form refused ran nothing: the last one's rows would stand under a form they do not answer
  const [refused, setRefused] = useState(false);
  // Opening the screen lists the latest messages; the form narrows it down.
  const [query, setQuery] = useState<Input<'tracking.search'>>({ limit: 100 });
  const results = useCall('tracking.search', query);
  const trace = useCall('tracking.trace', traceId ? { id: traceId } : null);
  // new mail shows by itself, as on the other screens: the latest mail is read again, the open history follows
  useLiveReload(['received', 'delivered', 'deferred', 'bounced', 'quarantined', 'queue'], () => {
    // only the latest mail: a search by words reads the whole period each time, on the relay's SMTP thread
    const words = query.sender || query.recipient || query.messageId || query.clientIp || query.subject;
    if (query.to === undefined && !words) void results.reload();
    if (traceId) void trace.reload();
  }, 5000);

  const set = (key: keyof TrackingForm) => (value: string) => setForm((current) => ({ ...current, [key]: value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const { input, problems: found } = toTrackingInput(form);
    setProblems(found);
    setRefused(Object.keys(found).length > 0);
    if (Object.keys(found).length) return;
    if (JSON.stringify(query) === JSON.stringify(input)) void results.reload();
    else setQuery(input);
  };
  const quick = (range: QuickRange) => {
    const { from, to } = quickRange(range, Date.now());
    setForm((current) => ({ ...current, from: toLocalDateTimeValue(from), to: toLocalDateTimeValue(to) }));
  };
  const openTrace = (id: string | null) => navigate(formatHash({ screen: 'tracking', params: { id: id ?? undefined } }));

  return (
    <div className={`split ${traceId ? 'with-pane' : ''}`}>
      <div className="split-main">
        <PageHeader title="Message tracking" />
        <form className="tracking-form" onSubmit={submit} aria-label="Find messages">
          <TextField
            label="Sender"
            value={form.sender}
            onChange={set('sender')}
            errors={problems.sender}
            placeholder="someone@example.com or part of it"
            hint="The envelope sender (MAIL FROM), or the From line people see where it differs: a name or an address."
          />
          <TextField label="Recipient" value={form.recipient} onChange={set('recipient')} errors={problems.recipient} />
          <TextField label="Message-ID" value={form.messageId} onChange={set('messageId')} errors={problems.messageId} placeholder="<…@…>" />
          <TextField label="Subject" value={form.subject} onChange={set('subject')} errors={problems.subject} placeholder="part of it" />
          <TextField label="Client address" value={form.clientIp} onChange={set('clientIp')} errors={problems.clientIp} placeholder="203.0.113.5 or its beginning" />
          <SelectField<TrackingOutcome | ''> label="Outcome" value={form.outcome} onChange={(outcome) => setForm((current) => ({ ...current, outcome }))} options={TRACKING_OUTCOMES} />
          <TextField label="From (time)" type="datetime-local" value={form.from} onChange={set('from')} errors={problems.from} hint={`In your time zone (${localZoneName()}); the relay's log is in UTC.`} />
          <TextField label="Until (time)" type="datetime-local" value={form.to} onChange={set('to')} errors={problems.to} />
          <div className="quick-ranges" role="group" aria-label="Time range">
            <button type="button" onClick={() => quick('hour')}>
              Last hour
            </button>
            <button type="button" onClick={() => quick('today')}>
              Today
            </button>
            <button type="button" onClick={() => quick('week')}>
              Last 7 days
            </button>
          </div>
          <div className="form-buttons">
            <button type="submit" className="primary">
              Search
            </button>
            <button
              type="button"
              onClick={() => {
                setForm(emptyTrackingForm);
                setProblems({});
                setRefused(false);
                // back to the latest messages: a "Nothing found" of the last search would no longer be true
                setQuery({ limit: 100 });
              }}
            >
              Clear
            </button>
          </div>
        </form>

        {refused ? (
          <p className="notice" role="status">
            The search did not run: fix what is marked above.
          </p>
        ) : null}
        {!refused && results.error ? <ErrorMessage error={results.error} onRetry={() => void results.reload()} /> : null}
        {!refused && results.loading ? <Loading label="Searching…" /> : null}
        {!refused && results.data && !results.loading ? (
          results.data.rows.length === 0 ? (
            <Empty>
              Nothing found.{' '}
              {query.subject || query.messageId ? 'Refused mail is not searched by subject or Message-ID: those are not kept for it. ' : ''}
              {query.sender ? 'Refused mail is searched by its envelope sender only: its From line is not kept. ' : ''}
              {query.from !== undefined || query.to !== undefined ? 'Only mail that arrived in the time range is searched: widen it if the time was a guess. ' : ''}
              Mail older than the history kept on this relay cannot be found.
            </Empty>
          ) : (
            <>
              {results.data.truncated ? <p className="notice">Only the first {results.data.rows.length} matches are shown: narrow the search to see the rest.</p> : null}
              <TrackingTable rows={results.data.rows} traceId={traceId} onOpen={openTrace} />
            </>
          )
        ) : null}
      </div>
      {traceId ? (
        <DetailPane label="Message history" title="What happened" closeLabel="Close history" openId={traceId} onClose={() => openTrace(null)}>
          {trace.error ? <ErrorMessage error={trace.error} onRetry={() => void trace.reload()} /> : null}
          {!trace.data && trace.loading ? <Loading label="Loading the history…" /> : null}
          {trace.data && trace.data.id === traceId ? <MessageDetail message={trace.data} headingLevel={3} /> : null}
        </DetailPane>
      ) : null}
    </div>
  );
}

type TrackingRow = Output<'tracking.search'>['rows'][number];

/** The messages found, newest first: one tab stop, the arrows move between rows; a row's "Show history" opens its trace. */
function TrackingTable({ rows, traceId, onOpen }: { rows: readonly TrackingRow[]; traceId: string | null; onOpen: (id: string) => void }) {
  const keys = rows.map((row, index) => `${row.id ?? 'refused'}-${row.at}-${index}`);
  const openIndex = traceId === null ? -1 : rows.findIndex((row) => row.id === traceId);
  const { body, move, stopProps } = useRovingRows(keys, keys[openIndex] ?? null);
  const onKey = (event: KeyboardEvent<HTMLElement>, index: number) => {
    if (move(index, event.key)) event.preventDefault();
  };
  return (
    <div className="table-wrap message-list">
      {/* a grid: one tab stop, on a row's "Show history" (or a refused row's details), the arrows move between rows */}
      <table className="data-table messages" role="grid" aria-readonly="true">
        <caption className="visually-hidden">Messages found. Arrow keys move between rows, Enter shows a message's history.</caption>
        <thead>
          <tr>
            <th scope="col" className="col-when">
              Time
            </th>
            <th scope="col">
              Sender<span className="compact-only"> · Recipients · Subject</span>
            </th>
            <th scope="col" className="wide-only">
              Recipients
            </th>
            <th scope="col" className="wide wide-only">
              Subject
            </th>
            <th scope="col" className="col-outcome wide-only">
              Outcome
            </th>
            {/* a narrow table shows the outcome above the details, in one column */}
            <th scope="col" className="col-details">
              <span className="wide-only">Details</span>
              <span className="compact-only">Outcome</span>
            </th>
          </tr>
        </thead>
        <tbody ref={body}>
          {rows.map((row, index) => {
            const outcome = outcomeWords(row.outcome);
            const noSubject = row.id ? '(no subject)' : '(not kept for refused mail)';
            const key = keys[index]!;
            const each = recipientOutcomeLines(row.recipientOutcomes);
            const badge = (
              <>
                <Badge tone={outcome.tone}>{outcome.label}</Badge>
                {each.map((line) => (
                  <span key={line} className="recipient-outcome">
                    {line}
                  </span>
                ))}
              </>
            );
            return (
              <tr key={key} className={row.id && row.id === traceId ? 'open' : undefined}>
                <td>
                  <Time ms={row.at} seconds />
                </td>
                <MessageCell sender={senderLabel(row)} recipients={row.recipients} subject={row.subject} noSubject={noSubject} />
                <td className="addr wide-only" title={row.recipients.join(', ')}>
                  <span className="cell-text">{summarizeList(row.recipients, 1)}</span>
                </td>
                <td className="subject-cell wide wide-only" title={row.subject ?? undefined}>
                  <span className="cell-text">{row.subject ?? <span className="muted">{noSubject}</span>}</span>
                </td>
                <td className="wide-only">{badge}</td>
                {row.id ? (
                  <td>
                    <span className="compact-only cell-badge">{badge}</span>
                    <button
                      type="button"
                      className="link-button"
                      {...stopProps(key)}
                      data-row-id={row.id}
                      onClick={() => onOpen(row.id!)}
                      onKeyDown={(event) => onKey(event, index)}
                      aria-label={`Show history of the message from ${senderKey(row)} at ${new Date(row.at).toLocaleString()}`}
                    >
                      Show history
                    </button>
                  </td>
                ) : (
                  // refused before it was accepted: no history to open, but the arrows stop here too (its reason is read)
                  <td {...stopProps(key)} onKeyDown={(event) => onKey(event, index)}>
                    <span className="compact-only cell-badge">{badge}</span>
                    <span>{row.detail ?? 'refused before it was accepted'}</span>
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
