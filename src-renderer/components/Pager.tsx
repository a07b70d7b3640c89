import { pageInfo, PAGE_SIZES, type PageState } from '../lib/table.ts';
import { formatCount } from '../lib/format.ts';

/** "51–100 of 1,234", previous/next page and the page size. */
export function Pager({ total, state, onChange, what }: { total: number; state: PageState; onChange: (next: PageState) => void; what: string }) {
  const info = pageInfo(total, state);
  return (
    <nav className="pager" aria-label={`Pages of ${what}`}>
      <span aria-live="polite">
        {info.total === 0 ? `No ${what}` : `${formatCount(info.from)}–${formatCount(info.to)} of ${formatCount(info.total)}`}
      </span>
      <button type="button" disabled={!info.hasPrev} onClick={() => onChange({ ...state, offset: Math.max(0, state.offset - state.limit) })}>
        Previous page
      </button>
      <span>
        Page {info.page} of {info.pages}
      </span>
      <button type="button" disabled={!info.hasNext} onClick={() => onChange({ ...state, offset: state.offset + state.limit })}>
        Next page
      </button>
      <label>
        Rows per page{' '}
        <select value={state.limit} onChange={(event) => {
          const limit = Number(event.target.value);
          onChange({ limit, offset: Math.floor(state.offset / limit) * limit });
        }}>
          {PAGE_SIZES.map((size) => (
            <option key={size} value={size}>
              {size}
            </option>
          ))}
        </select>
      </label>
    </nav>
  );
}
