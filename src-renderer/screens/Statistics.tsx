import { useState } from 'react';
import type { Output } from '../../src-relay/admin/contract.ts';
import { useCall } from '../api/hooks.ts';
import { Empty, ErrorMessage, Loading, PageHeader, Time } from '../components/ui.tsx';
import { formatCount } from '../lib/format.ts';
import { barPercent, refusalWords, STATISTICS_RANGES, type StatisticsRange } from '../lib/views.ts';

type Statistics = Output<'statistics.get'>;
type Ranked = Statistics['top']['senders'];

/** Mail in and out, junk and viruses, and who sends and gets the most, over a day, a week or 30 days. */
export function StatisticsScreen() {
  const [range, setRange] = useState<StatisticsRange>('24h');
  const stats = useCall('statistics.get', { range });
  const data = stats.data;

  return (
    <div className="statistics">
      <PageHeader title="Statistics">
        <div className="segmented" role="group" aria-label="Period">
          {STATISTICS_RANGES.map((option) => (
            <button key={option.value} type="button" aria-pressed={range === option.value} onClick={() => setRange(option.value)}>
              {option.label}
            </button>
          ))}
        </div>
      </PageHeader>
      {stats.error ? <ErrorMessage error={stats.error} onRetry={() => void stats.reload()} /> : null}
      {!data && stats.loading ? <Loading label="Counting…" /> : null}
      {data ? (
        <>
          <p className="muted">
            From <Time ms={data.from} seconds /> to <Time ms={data.to} seconds />.
          </p>
          <div className="cards">
            <FigureCard
              title="Mail in and out"
              items={[
                ['Received from the internet', data.mail.inbound],
                ['Sent by office clients', data.mail.submitted],
                ['Delivered (recipients)', data.mail.delivered],
                ['Bounced (recipients)', data.mail.bounced],
                ['Delivery attempts deferred', data.mail.deferred],
              ]}
            />
            <FigureCard
              title="Junk and viruses"
              items={[
                ['Refused as junk', data.mail.junk],
                ['Refused as a virus', data.mail.virus],
                ['Put in quarantine', data.mail.quarantined],
                ['Delivered with a junk tag', data.mail.tagged],
                ['Refused in all', data.mail.refused],
              ]}
            />
            <section className="card" aria-labelledby="refusals-title">
              <h2 id="refusals-title">Why mail was refused</h2>
              {data.refusals.length === 0 ? <p className="muted">Nothing was refused.</p> : <RankedTable caption="Refusals by reason" what="Reason" rows={data.refusals.map((row) => ({ name: refusalWords(row.name), count: row.count }))} />}
            </section>
          </div>
          <div className="cards">
            <TopCard id="top-senders" title="Top senders" what="Sender" rows={data.top.senders} />
            <TopCard id="top-recipients" title="Top recipients" what="Recipient" rows={data.top.recipients} />
            <TopCard id="top-domains" title="Top sender domains" what="Domain" rows={data.top.senderDomains} />
          </div>
          <p className="muted small">
            Counts of refusals, deliveries and the quarantine come from the relay's per-minute figures (kept 30 days). The top lists count the{' '}
            {formatCount(data.messages)} messages accepted in the period{data.capped ? ' (only the newest of them: the period holds more than the lists read)' : ''}; Moat's own
            mail (bounce reports, alerts, quarantine digests) is not counted.
          </p>
        </>
      ) : null}
    </div>
  );
}

function FigureCard({ title, items }: { title: string; items: readonly (readonly [string, number])[] }) {
  const id = `figures-${title.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <dl className="figures">
        {items.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{formatCount(value)}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function TopCard({ id, title, what, rows }: { id: string; title: string; what: string; rows: Ranked }) {
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {rows.length === 0 ? <Empty>No mail in this period.</Empty> : <RankedTable caption={title} what={what} rows={rows} />}
    </section>
  );
}

function RankedTable({ caption, what, rows }: { caption: string; what: string; rows: Ranked }) {
  const largest = rows.reduce((max, row) => Math.max(max, row.count), 0);
  return (
    <table className="ranked">
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{what}</th>
          <th scope="col" className="num">
            Messages
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.name}>
            <td className="addr">
              <span className="ranked-name">{row.name}</span>
              <span className="ranked-bar" aria-hidden="true" style={{ width: `${barPercent(row.count, largest)}%` }} />
            </td>
            <td className="num">{formatCount(row.count)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
