import type { Output } from '../../src-relay/admin/contract.ts';
import { formatMs, formatScore, formatSize } from '../lib/format.ts';
import { DECISION_ACTION, MESSAGE_STATUS, RECIPIENT_STATUS } from '../lib/words.ts';
import { Badge, Facts, Time } from './ui.tsx';
import { MessageBody } from './MessageBody.tsx';

type Detail = Output<'queue.show'>;
type Decision = NonNullable<Detail['decision']>;

/** One message's envelope, recipients, filter decision and history: the queue's detail pane and tracking's trace. */
export function MessageDetail({ message, headingLevel = 2 }: { message: Detail; headingLevel?: 2 | 3 }) {
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
          ['Received', <Time key="at" ms={message.receivedAt} />],
          ['From', message.sender || '<> (bounce)'],
          ['Client', [message.clientIp, message.helo ? `(${message.helo})` : null].filter(Boolean).join(' ') || '—'],
          ['Message-ID', message.headerMessageId ?? '—'],
          ['Size', formatSize(message.size)],
        ]}
      />
      <Sub>Recipients</Sub>
      <ul className="recipients">
        {message.recipients.map((recipient) => {
          const state = RECIPIENT_STATUS[recipient.status];
          return (
            <li key={recipient.address}>
              <div className="recipient-head">
                <strong className="addr-text">{recipient.address}</strong> <Badge tone={state.tone}>{state.label}</Badge>
              </div>
              <div className="muted small">
                {recipient.route === 'internal' ? 'Internal server' : 'Internet'} · {recipient.attempts} {recipient.attempts === 1 ? 'attempt' : 'attempts'}
                {recipient.status === 'pending' && recipient.nextAttemptAt ? (
                  <>
                    {' '}
                    · next try <Time ms={recipient.nextAttemptAt} relative />
                  </>
                ) : null}
              </div>
              {recipient.lastReply || recipient.lastStatus ? <div className="reply-text">{[recipient.lastStatus, recipient.lastReply].filter(Boolean).join(' ')}</div> : null}
            </li>
          );
        })}
      </ul>
      {message.decision ? <DecisionTrace decision={message.decision} heading={Sub} /> : null}
      {message.status === 'queued' || message.status === 'quarantined' ? <MessageBody id={message.id} headingLevel={headingLevel === 2 ? 3 : 4} /> : null}
      <Sub>History</Sub>
      {message.history.length === 0 ? (
        <p className="muted">Nothing recorded yet.</p>
      ) : (
        <ol className="history">
          {message.history.map((event, index) => (
            <li key={`${event.at}-${index}`}>
              <Time ms={event.at} />
              <span className="history-text">
                {event.text}
                {event.recipient ? <span className="muted"> ({event.recipient})</span> : null}
              </span>
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
              <th scope="col">Reasons</th>
              <th scope="col">Time</th>
            </tr>
          </thead>
          <tbody>
            {decision.filters.map((filter) => (
              <tr key={filter.name}>
                <td>{filter.name}</td>
                <td>{filter.failed ? `failed: ${filter.failed}` : filter.verdict}</td>
                <td>{formatScore(filter.score)}</td>
                <td>{filter.reasons.join('; ') || '—'}</td>
                <td className="nowrap">{formatMs(filter.ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
