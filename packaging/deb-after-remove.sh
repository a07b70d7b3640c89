#!/bin/bash
# postrm of the Moat deb. The queue in /var/lib/moat may hold mail not delivered yet: it is kept, even on purge,
# and so is the moat user that owns it (Debian keeps system users). Remove both by hand when they are not needed.
APPARMOR_PROFILE_DEST='/etc/apparmor.d/${executable}'
case "$1" in
    remove|purge)
        if [ -f "$APPARMOR_PROFILE_DEST" ]; then
            if apparmor_status --enabled > /dev/null 2>&1 && hash apparmor_parser 2>/dev/null; then
                apparmor_parser --remove "$APPARMOR_PROFILE_DEST" || true
            fi
            rm -f "$APPARMOR_PROFILE_DEST"
        fi
        if [ -d /run/systemd/system ]; then
            systemctl daemon-reload || true
        fi
        if [ "$1" = purge ] && [ -d /var/lib/moat ]; then
            echo "moat: /var/lib/moat (queue, quarantine, configuration) and the user moat were kept; remove them by hand if the mail in it is not needed."
        fi
        ;;
esac
exit 0
