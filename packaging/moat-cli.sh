#!/bin/sh
# /usr/bin/moat (installed by the deb): the relay's command line, or the desktop app when no command is given.
# A relay command runs the app's binary without a display or a GPU (as a service, over SSH). There is no web
# content in that mode, so Chromium's sandbox is off: it needs no setuid helper, which NoNewPrivileges forbids,
# and root can run `moat queue list` too.
APP=/opt/Moat/moat
case "$1" in
  serve|check|queue|users|dkim|backup|checklist|quarantine|senders|help|--help|-h)
    exec "$APP" --no-sandbox --ozone-platform=headless --disable-gpu --disable-dev-shm-usage "$@"
    ;;
esac
exec "$APP" "$@"
