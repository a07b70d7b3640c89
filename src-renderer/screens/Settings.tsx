import { settingsTab, type SettingsTab } from '../lib/route.ts';
import { PageHeader } from '../components/ui.tsx';
import { ConfigEditor } from './settings/ConfigEditor.tsx';
import { AccountsPanel } from './settings/Accounts.tsx';
import { SendersPanel } from './settings/Senders.tsx';
import { BackupsPanel } from './settings/Backups.tsx';
import { PasswordPanel } from './settings/Password.tsx';

const TABS: readonly { tab: SettingsTab; label: string; hash: string }[] = [
  { tab: 'config', label: 'Configuration', hash: '#/settings' },
  { tab: 'accounts', label: 'Submission accounts', hash: '#/settings/accounts' },
  { tab: 'senders', label: 'Sender lists', hash: '#/settings/senders' },
  { tab: 'backups', label: 'Backups', hash: '#/settings/backups' },
  { tab: 'password', label: 'Admin password', hash: '#/settings/password' },
];

export function SettingsScreen({ sub }: { sub: string | null }) {
  const tab = settingsTab({ screen: 'settings', sub, params: {} });
  return (
    <div>
      <PageHeader title="Settings">
        <a className="button" href="#/setup">
          Run the setup wizard again
        </a>
      </PageHeader>
      <nav className="tabs" aria-label="Settings sections">
        {TABS.map((item) => (
          <a key={item.tab} href={item.hash} aria-current={tab === item.tab ? 'page' : undefined}>
            {item.label}
          </a>
        ))}
      </nav>
      {tab === 'config' ? <ConfigEditor /> : null}
      {tab === 'accounts' ? <AccountsPanel /> : null}
      {tab === 'senders' ? <SendersPanel /> : null}
      {tab === 'backups' ? <BackupsPanel /> : null}
      {tab === 'password' ? <PasswordPanel /> : null}
    </div>
  );
}
