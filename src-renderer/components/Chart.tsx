import { areaPath, labelIndexes, linePath, linePoints, seriesMax, ticks, yAt, xAt, type Box } from '../lib/chart.ts';
import { formatAxisTime, formatCount, formatDateTime } from '../lib/format.ts';

type Bucket = { at: number } & Record<string, number>;

export interface Series<T> {
  key: keyof T & string;
  label: string;
  /** Colour slot (1–4, see the CSS); by default the series' position. */
  tone?: 1 | 2 | 3 | 4;
}

const BOX: Box = { width: 380, height: 180, top: 10, right: 14, bottom: 24, left: 36 };

/**
 * A line chart drawn as plain SVG (no chart library, nothing injected into the page's styles: colours come
 * from classes in the CSS file). Screen readers get a summary, and "Show numbers" opens the figures as a table.
 * Lines often lie on each other (as many deferred as rejected): each tone has its own dash, so the line drawn first
 * shows through the gaps of the next, and the legend gives each series' total for the range.
 */
export function LineChart<T extends Bucket>({ title, rows, series, range }: { title: string; rows: readonly T[]; series: readonly Series<T>[]; range: '24h' | '7d' }) {
  const max = seriesMax(rows, series.map((item) => item.key));
  const axis = ticks(max);
  const top = axis[axis.length - 1] ?? 1;
  const totals = series.map((item) => rows.reduce((sum, row) => sum + (Number(row[item.key]) || 0), 0));
  const summaryTotals = series.map((item, index) => `${item.label} ${formatCount(totals[index]!)}`).join(', ');
  const summary = `${title}, ${range === '24h' ? 'last 24 hours' : 'last 7 days'}: ${summaryTotals}`;
  return (
    <figure className="chart">
      <figcaption>
        <span className="chart-title">{title}</span>
        <span className="legend">
          {series.map((item, index) => (
            <span key={item.key} className={`legend-item series-${item.tone ?? index + 1}`}>
              <span className="swatch" aria-hidden="true" />
              {item.label} <span className="legend-total">{formatCount(totals[index]!)}</span>
            </span>
          ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${BOX.width} ${BOX.height}`} role="img" aria-label={summary}>
        {axis.map((value) => {
          const y = yAt(value, top, BOX);
          return (
            <g key={value} className="grid">
              <line x1={BOX.left} x2={BOX.width - BOX.right} y1={y} y2={y} />
              <text x={BOX.left - 6} y={y + 4} textAnchor="end">
                {formatCount(value)}
              </text>
            </g>
          );
        })}
        {labelIndexes(rows.length).map((index) => (
          <text key={index} className="axis-label" x={xAt(index, rows.length, BOX)} y={BOX.height - 8} textAnchor="middle">
            {formatAxisTime(rows[index]!.at, range)}
          </text>
        ))}
        {series.map((item, index) => {
          const points = linePoints(rows, item.key, top, BOX);
          return (
            <g key={item.key} className={`series series-${item.tone ?? index + 1}`}>
              {index === 0 ? <path className="area" d={areaPath(points, BOX)} /> : null}
              <path className="line" d={linePath(points)} />
            </g>
          );
        })}
      </svg>
      <details className="chart-table">
        <summary>Show numbers</summary>
        <table>
          <caption className="visually-hidden">{summary}</caption>
          <thead>
            <tr>
              <th scope="col">From</th>
              {series.map((item) => (
                <th scope="col" key={item.key}>
                  {item.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.at}>
                <th scope="row">{formatDateTime(row.at)}</th>
                {series.map((item) => (
                  <td key={item.key}>{formatCount(Number(row[item.key]) || 0)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
