#!/usr/bin/env bash
# Install or update the hashtag bot as a systemd service. Idempotent: run it again after `git pull`.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: sudo deploy/install.sh [--prefix DIR] [--user NAME] [--dry-run]

Installs the bot from this checkout:
  - a system user (default: hashtagbot) that owns only the data folder,
  - the code in --prefix (default: /opt/hashtag-bot) with a .venv of requirements-serve.txt,
  - DIR/data (mode 750) for the SQLite database, DIR/.env (root:NAME, mode 640) from .env.example if missing,
  - the systemd unit hashtag-bot.service (enabled, not started until .env has a token), and the
    template hashtag-bot@.service for several processes on one machine (docs/scaling.md).
--dry-run prints the commands instead of running them.
USAGE
}

prefix=/opt/hashtag-bot
user=hashtagbot
dry=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --user) user="$2"; shift 2 ;;
    --dry-run) dry=echo; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

src="$(cd "$(dirname "$0")/.." && pwd)"
run() { if [ -n "$dry" ]; then echo "+ $*"; else "$@"; fi; }

if [ -z "$dry" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh must run as root (sudo), or use --dry-run" >&2
  exit 1
fi

if ! id "$user" >/dev/null 2>&1; then
  run useradd --system --home-dir "$prefix" --shell /usr/sbin/nologin "$user"
fi
run mkdir -p "$prefix"
run cp -a "$src/bot" "$src/inference" "$src/trends" "$src/storage" "$src/deploy" "$src/models" \
  "$src/requirements-serve.txt" "$src/README.md" "$src/.env.example" "$prefix/"
[ -x "$prefix/.venv/bin/python" ] || run python3 -m venv "$prefix/.venv"
run "$prefix/.venv/bin/pip" install --quiet --upgrade pip
run "$prefix/.venv/bin/pip" install --quiet -r "$prefix/requirements-serve.txt"
run install -d -m 750 -o "$user" -g "$user" "$prefix/data"
if [ ! -f "$prefix/.env" ]; then
  run install -m 600 -o root -g root "$src/.env.example" "$prefix/.env"
  echo "edit $prefix/.env (set TELEGRAM_BOT_TOKEN and/or DISCORD_BOT_TOKEN), then: systemctl start hashtag-bot"
fi
# Root-owned, readable by the service's group (the bot reads ./.env itself, as systemd's EnvironmentFile
# does), writable by root only. Set on every run: installs before 2026-12 left it 600, and the bot could
# not start.
run chown "root:$user" "$prefix/.env"
run chmod 640 "$prefix/.env"
# One source, two units: hashtag-bot.service, and the template hashtag-bot@.service for several
# processes on this machine (hashtag-bot@1, @2 …, each reading .env then its own .env.1, .env.2 …).
for unit in /etc/systemd/system/hashtag-bot.service /etc/systemd/system/hashtag-bot@.service; do
  if [ -n "$dry" ]; then
    echo "+ write $unit from deploy/hashtag-bot.service (prefix $prefix, user $user)"
  else
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@USER@|$user|g" "$src/deploy/hashtag-bot.service" > "$unit"
  fi
done
run systemctl daemon-reload
run systemctl enable hashtag-bot.service
if [ -z "$dry" ] && systemctl is-active --quiet hashtag-bot.service; then
  systemctl restart hashtag-bot.service
fi
echo "installed in $prefix"
