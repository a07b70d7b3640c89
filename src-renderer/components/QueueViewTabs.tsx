import { formatHash } from '../lib/route.ts';

/** The queue's two views: every message, or the queue by destination (Exchange's queue viewer). */
export function QueueViewTabs({ view }: { view: 'messages' | 'destinations' }) {
  return (
    <nav className="tabs view-tabs" aria-label="Queue views">
      <a href={formatHash({ screen: 'queue' })} aria-current={view === 'messages' ? 'page' : undefined}>
        Messages
      </a>
      <a href={formatHash({ screen: 'queue', params: { view: 'destinations' } })} aria-current={view === 'destinations' ? 'page' : undefined}>
        By destination
      </a>
    </nav>
  );
}
