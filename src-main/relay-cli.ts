/**
 * The relay's command line inside the desktop binary (bundled to dist-main/engine/relay-cli.js): what the deb's
 * /usr/bin/moat and its systemd unit run (`moat serve`, `moat queue list`, ...), without a window.
 */
export { main } from '../src-relay/cli.ts';
