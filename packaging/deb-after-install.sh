#!/bin/bash
# postinst of the Moat deb (electron-builder replaces ${executable} and ${sanitizedProductName}): what
# electron-builder's own script does for the desktop app (sandbox helper, desktop database, AppArmor), plus the
# service's user and data directory. The service is not enabled here: it needs configuring first.

# Chromium's setuid sandbox helper, only where user namespaces do not work
if ! { [[ -L /proc/self/ns/user ]] && unshare --user true; }; then
    chmod 4755 '/opt/${sanitizedProductName}/chrome-sandbox' || true
else
    chmod 0755 '/opt/${sanitizedProductName}/chrome-sandbox' || true
fi

if hash update-mime-database 2>/dev/null; then
    update-mime-database /usr/share/mime || true
fi
if hash update-desktop-database 2>/dev/null; then
    update-desktop-database /usr/share/applications || true
fi

# Ubuntu 24+ restricts unprivileged user namespaces to programs with an AppArmor profile
if apparmor_status --enabled > /dev/null 2>&1; then
    APPARMOR_PROFILE_SOURCE='/opt/${sanitizedProductName}/resources/apparmor-profile'
    APPARMOR_PROFILE_TARGET='/etc/apparmor.d/${executable}'
    if apparmor_parser --skip-kernel-load --debug "$APPARMOR_PROFILE_SOURCE" > /dev/null 2>&1; then
        cp -f "$APPARMOR_PROFILE_SOURCE" "$APPARMOR_PROFILE_TARGET"
        if ! { [ -x '/usr/bin/ischroot' ] && /usr/bin/ischroot; } && hash apparmor_parser 2>/dev/null; then
            apparmor_parser --replace --write-cache --skip-read-cache "$APPARMOR_PROFILE_TARGET"
        fi
    fi
fi

# the service's own user and group, with no login and the data directory as home
if ! getent group moat > /dev/null; then
    groupadd --system moat
fi
if ! getent passwd moat > /dev/null; then
    useradd --system --gid moat --home-dir /var/lib/moat --no-create-home --shell /usr/sbin/nologin --comment 'Moat mail relay' moat
fi
install -d -m 0700 -o moat -g moat /var/lib/moat

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    # an upgrade restarts a running relay on the new version; a stopped one stays stopped
    systemctl try-restart moat.service || true
fi
exit 0
