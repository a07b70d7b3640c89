import { settingsTab, type SettingsTab } from '../lib/route.ts';
import { PageHeader } from '../components/ui.tsx';
import { ConfigEditor } from './settings/ConfigEditor.tsx';
import { AccountsPanel } from './settings/Accounts.tsx';
import { SendersPanel } from './settings/Senders.tsx';
import { PersonalSendersPanel } from './settings/PersonalSenders.tsx';
import { BackupsPanel } from './settings/Backups.tsx';
import { PasswordPanel } from './settings/Password.tsx';
import { DesktopPanel } from './settings/Desktop.tsx';
import { desktopBridge } from '../api/bridge.ts';
import type { Output } from '../../src-relay/admin/contract.ts';

const TABS: readonly { tab: SettingsTab; label: string; hash: string }[] = [
  { tab: 'config', label: 'Configuration', hash: '#/settings' },
  { tab: 'accounts', label: 'Submission accounts', hash: '#/settings/accounts' },
  { tab: 'senders', label: 'Sender lists', hash: '#/settings/senders' },
  { tab: 'backups', label: 'Backups', hash: '#/settings/backups' },
  { tab: 'password', label: 'Admin password', hash: '#/settings/password' },
];

export function SettingsScreen({ sub, relay, onBackedUp }: { sub: string | null; relay: Output<'relay.status'> | undefined; onBackedUp?: () => void }) {
  const bridge = desktopBridge();
  const chosen = settingsTab({ screen: 'settings', sub, params: {} });
  // The Desktop tab exists only inside the desktop app (the bridge is there); in a browser it is the configuration.
  const tab = chosen === 'desktop' && !bridge ? 'config' : chosen;
  const tabs = bridge ? [...TABS, { tab: 'desktop' as const, label: 'Desktop app', hash: '#/settings/desktop' }] : TABS;
  return (
    <div>
      <PageHeader title="Settings">
        <a className="button" href="#/setup">
          Run the setup wizard again
        </a>
      </PageHeader>
      <nav className="tabs" aria-label="Settings sections">
        {tabs.map((item) => (
          <a key={item.tab} href={item.hash} aria-current={tab === item.tab ? 'page' : undefined}>
            {item.label}
          </a>
        ))}
      </nav>
      {tab === 'config' ? <ConfigEditor /> : null}
      {tab === 'accounts' ? <AccountsPanel relay={relay} /> : null}
      {tab === 'senders' ? <SendersPanel /> : null}
      {tab === 'senders' ? <PersonalSendersPanel /> : null}
      {tab === 'backups' ? <BackupsPanel onBackedUp={onBackedUp} /> : null}
      {tab === 'password' ? <PasswordPanel /> : null}
      {tab === 'desktop' && bridge ? <DesktopPanel bridge={bridge} /> : null}
    </div>
  );
}
