#!/bin/sh
# Start a private Postfix instance for tests/native_postfix.rs.
#
# Usage: start.sh DIR PORT
#   DIR: an empty directory owned by root (the instance's config, queue,
#        data and mail directories go under it; its log is DIR/maillog)
#   PORT: the TCP port smtpd listens on at 127.0.0.1
# Needs root (Postfix's master runs as root) and Debian's postfix package
# (scripts/setup.sh). Stop it with: postfix -c DIR/etc stop
set -eu

dir="$1"
port="$2"
here="$(cd "$(dirname "$0")" && pwd)"

if [ ! -x /usr/sbin/postfix ]; then
    echo "start.sh: /usr/sbin/postfix not found: run scripts/setup.sh (apt-get install postfix)" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "start.sh: Postfix must be started as root (its master process runs as root)" >&2
    exit 2
fi

mkdir -p "$dir/etc" "$dir/spool" "$dir/data" "$dir/mail"
chown postfix "$dir/data"
chown 65534:65534 "$dir/mail"
for f in main.cf master.cf; do
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" "$here/$f.in" >"$dir/etc/$f"
done
# `postfix check` (run by start) creates the queue directories; `start` waits
# for the master to report that it started (listening on PORT) or failed.
exec /usr/sbin/postfix -c "$dir/etc" start
