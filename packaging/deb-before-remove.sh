#!/bin/bash
# prerm of the Moat deb: a removed package leaves no relay running (an upgrade keeps it; postinst restarts it)
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl disable --now moat.service || true
fi
exit 0
