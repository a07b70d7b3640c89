import { useEffect, useRef, type ReactNode } from 'react';
import type { Output } from '../../src-relay/admin/contract.ts';
import { formatDuration, formatMs, formatScore, formatSize } from '../lib/format.ts';
import { DECISION_ACTION, lastReplyText, MESSAGE_STATUS, QUEUE_STATUS, RECIPIENT_STATUS } from '../lib/words.ts';
import { AddressText, Badge, Facts, Time } from './ui.tsx';
import { KnownErrorSentence, PlainError } from './PlainError.tsx';
import { senderLabel } from '../lib/sender.ts';
import { MessageBody } from './MessageBody.tsx';

type Detail = Output<'queue.show'>;
type Decision = NonNullable<Detail['decision']>;

/** When the pane lies over the list instead of beside it (styles.css, the max-width: 1199px block). */
const PANE_OVER_LIST = '(max-width: 1199px)';

/**
 * The detail pane beside a list (queue, quarantine, tracking). Escape or × closes it and puts the focus back on
 * the row it was opened from (`[data-row-id]`), or on the list's first row when that one has gone.
 * `ticked`: how many rows are ticked for the bulk buttons. A new tick while the pane lies over the list closes it:
 * the person is at the list, and the pane would cover the buttons that act on the ticked rows.
 */
export function DetailPane(props: { label: string; title: string; closeLabel: string; openId: string; onClose: () => void; ticked?: number; children: ReactNode }) {
  const { openId, onClose, ticked = 0 } = props;
  const tickedBefore = useRef(ticked);
  useEffect(() => {
    if (ticked > tickedBefore.current && window.matchMedia(PANE_OVER_LIST).matches) onClose();
    tickedBefore.current = ticked;
  }, [ticked, onClose]);
  const close = useRef(() => {});
  close.current = () => {
    const rows = [...document.querySelectorAll<HTMLElement>('[data-row-id]')];
    const row = rows.find((element) => element.dataset.rowId === openId) ?? rows[0] ?? document.querySelector<HTMLElement>('main');
    onClose();
    row?.focus();
  };
  // closed by an action (the message was deleted): the focus, left on nothing, goes back to the list
  useEffect(
    () => () => {
      requestAnimationFrame(() => {
        if (document.activeElement && document.activeElement !== document.body) return;
        const rows = [...document.querySelectorAll<HTMLElement>('[data-row-id]')];
        (rows.find((element) => element.dataset.rowId === openId) ?? rows[0])?.focus();
      });
    },
    [openId],
  );
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      // a modal dialog's Escape is the dialog's (it cancels), never the pane's
      if (event.key !== 'Escape' || event.defaultPrevented || document.querySelector('dialog[open]')) return;
      event.preventDefault();
      close.current();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  return (
    <aside className="pane" aria-label={props.label}>
      <div className="pane-header">
        <h2 className="pane-title">{props.title}</h2>
        <button type="button" className="icon-button" aria-label={props.closeLabel} title={`${props.closeLabel} (Escape)`} onClick={() => close.current()}>
          ×
        </button>
      </div>
      {props.children}
    </aside>
  );
}

/** How long Moat keeps trying a waiting message, and when its sender hears of the delay: nothing is lost meanwhile. */
function RetryLimits({ retrying }: { retrying: NonNullable<Detail['retrying']> }) {
  return (
    <p className="muted small retry-limits">
      Moat keeps trying until <Time ms={retrying.givesUpAt} /> ({formatDuration(retrying.lifetimeHours * 3_600_000)} after it arrived), then returns it to
      its sender.{' '}
      {retrying.senderWarned ? (
        'The sender has been told that it is delayed.'
      ) : retrying.warnsSenderAt ? (
        <>
          If it still waits at <Time ms={retrying.warnsSenderAt} />, the sender is told that it is delayed.
        </>
      ) : null}
    </p>
  );
}

/** One message's envelope, recipients, filter decision and history: the queue's detail pane and tracking's trace. */
/** `paused`: delivery of the whole queue is paused (its recipients wait for Resume, not for their next try). */
export function MessageDetail({ message, headingLevel = 2, paused = false }: { message: Detail; headingLevel?: 2 | 3; paused?: boolean }) {
  const H = headingLevel === 2 ? 'h2' : 'h3';
  const Sub = headingLevel === 2 ? 'h3' : 'h4';
  const status = MESSAGE_STATUS[message.status];
  return (
    <article className="message-detail" aria-label={`Message ${message.id}`}>
      <H className="subject">{message.subject ?? '(no subject)'}</H>
      <p>
        <Badge tone={status.tone}>{status.label}</Badge> {message.held ? <Badge tone="neutral">Held</Badge> : null} {message.kind === 'dsn' ? <Badge tone="info">Bounce report</Badge> : null}
      </p>
      <Facts
        items={[
          ['Queue id', <code key="id">{message.id}</code>],
          ['Received', <Time key="at" ms={message.receivedAt} seconds />],
          ['From', senderLabel(message)],
          ['Client', [message.clientIp, message.helo ? `(${message.helo})` : null].filter(Boolean).join(' ') || '—'],
          ['Message-ID', message.headerMessageId ?? '—'],
          ['Size', formatSize(message.size)],
        ]}
      />
      <Sub>Recipients</Sub>
      <ul className="recipients">
        {message.recipients.map((recipient) => {
          // as the queue's list says it: a recipient waiting after a failed attempt is being retried, unless held
          const waiting = recipient.status === 'pending';
          const held = waiting && message.held;
          // a quarantined message's recipients wait for a release, not for delivery
          const quarantined = waiting && message.status === 'quarantined';
          const state = quarantined ? MESSAGE_STATUS.quarantined : held ? QUEUE_STATUS.held : waiting && recipient.attempts > 0 ? QUEUE_STATUS.deferred : RECIPIENT_STATUS[recipient.status];
          return (
            <li key={recipient.address}>
              <div className="recipient-head">
                <strong className="addr-text"><AddressText text={recipient.address} /></strong> <Badge tone={state.tone}>{state.label}</Badge>
              </div>
              <div className="muted small">
                {recipient.route === 'internal' ? 'Internal server' : 'Internet'} · {recipient.attempts} {recipient.attempts === 1 ? 'attempt' : 'attempts'}
                {quarantined ? ' · not delivered unless released from the quarantine' : held ? ' · not tried until released' : waiting && paused ? ' · not tried until delivery is resumed' : null}
                {waiting && !held && !quarantined && !paused && recipient.nextAttemptAt ? (
                  recipient.nextAttemptAt <= Date.now() ? (
                    ' · due now'
                  ) : (
                    <>
                      {' '}
                      · next try <Time ms={recipient.nextAttemptAt} relative />
                    </>
                  )
                ) : null}
              </div>
              {recipient.lastReply || recipient.lastStatus ? (
                <>
                  {waiting ? <p className="muted small last-attempt">The last attempt:</p> : null}
                  <PlainError raw={lastReplyText(recipient.lastStatus, recipient.lastReply)} />
                </>
              ) : null}
            </li>
          );
        })}
      </ul>
      {message.retrying && message.held ? (
        <p className="muted small retry-limits">Held: Moat does not try it, nor return it to its sender, until it is released; then it gets at least one more try.</p>
      ) : message.retrying ? (
        <RetryLimits retrying={message.retrying} />
      ) : null}
      {message.decision ? <DecisionTrace decision={message.decision} heading={Sub} /> : null}
      {message.status === 'queued' || message.status === 'quarantined' ? <MessageBody id={message.id} headingLevel={headingLevel === 2 ? 3 : 4} /> : null}
      <Sub>History</Sub>
      {message.history.length === 0 ? (
        <p className="muted">Nothing recorded yet.</p>
      ) : (
        <ol className="history">
          {message.history.map((event, index) => (
            <li key={`${event.at}-${index}`}>
              <Time ms={event.at} seconds />
              <span className="history-text">
                {event.text}
                {event.recipient ? <span className="muted"> ({event.recipient})</span> : null}
              </span>
              {event.reply ? <KnownErrorSentence raw={event.reply} /> : null}
              {event.detail ? <span className="history-detail">{event.detail}</span> : null}
            </li>
          ))}
        </ol>
      )}
    </article>
  );
}

/** The content filters' verdict: the outcome, the score, and each filter's part in it. */
export function DecisionTrace({ decision, heading: Sub = 'h3' }: { decision: Decision; heading?: 'h3' | 'h4' }) {
  const action = DECISION_ACTION[decision.action];
  return (
    <section className="decision">
      <Sub>Filter decision</Sub>
      <p>
        <Badge tone={action.tone}>{action.label}</Badge> score {formatScore(decision.score)}
        {decision.cause ? ` · cause: ${decision.cause}` : ''}
      </p>
      <p>{decision.reason}</p>
      {decision.senderList ? (
        <p>
          Sender is on the {decision.senderList.list} list ({decision.senderList.entry}).
        </p>
      ) : null}
      {decision.filters.length ? (
        <table className="compact">
          <thead>
            <tr>
              <th scope="col">Filter</th>
              <th scope="col">Verdict</th>
              <th scope="col">Score</th>
              <th scope="col">Time</th>
            </tr>
          </thead>
          {/* a filter's reasons on a line of their own under it: in a column of the narrow pane rule names broke mid-word */}
          {decision.filters.map((filter) => (
            <tbody key={filter.name} className="filter-result">
              <tr>
                <td>{filter.name}</td>
                <td>{filter.failed ? `failed: ${filter.failed}` : filter.said}</td>
                <td>{formatScore(filter.score)}</td>
                <td className="nowrap">{formatMs(filter.ms)}</td>
              </tr>
              {filter.reasons.length ? (
                <tr>
                  <td colSpan={4} className="reasons">
                    {filter.reasons.join('; ')}
                  </td>
                </tr>
              ) : null}
            </tbody>
          ))}
        </table>
      ) : null}
    </section>
  );
}
