# /etc/cron.d/kalshiwhale — run kw-fetch every minute, for hosts without systemd or admins
# who prefer cron to kalshiwhale-fetch.timer. Use one of the two, not both.
#
# Off as installed: remove the "#" in front of the job below once
# /etc/kalshiwhale/kalshiwhale.env is configured (dpkg keeps your edit on upgrades).
# kw-fetch takes a lock itself, so runs never overlap; exit statuses: 0 ok, 3 partial,
# 75 Kalshi unreachable (tried again next minute), 1 failed, 78 bad configuration.
# The test -x keeps a removed (not purged) package quiet.
SHELL=/bin/sh
PATH=/usr/bin:/bin
KW_ENV_FILE=/etc/kalshiwhale/kalshiwhale.env

#* * * * * kalshiwhale test -x /usr/bin/kw-fetch && /usr/bin/kw-fetch --once >>/var/log/kalshiwhale/kw-fetch.log 2>&1
