#!/bin/sh
# /usr/bin/moat (installed by the deb): the relay's command line, or the desktop app when no command is given.
# A relay command runs the app's binary without a display or a GPU (as a service, over SSH). There is no web
# content in that mode, so Chromium's sandbox is off: it needs no setuid helper, which NoNewPrivileges forbids,
# and root can run `moat queue list` too. --js-flags sizes the relay's heap as bin/moat.mjs does (it says why);
# Electron's main process takes V8 flags only from its command line.
APP=/opt/Moat/moat
case "$1" in
  serve|check|queue|users|dkim|backup|checklist|quarantine|senders|help|--help|-h)
    exec "$APP" --no-sandbox --ozone-platform=headless --disable-gpu --disable-dev-shm-usage \
      --js-flags="--max-semi-space-size=2 --heap-growing-percent=50" "$@"
    ;;
esac
exec "$APP" "$@"
