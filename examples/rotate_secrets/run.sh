#!/usr/bin/env bash
# Secret rotation end to end, with the task held by the decision service:
# the deploy bot's rotation is requested, two platform approvers approve it
# (the bot cannot, nor an approver from another team), the rotation is
# granted, the task is ended, and the next rotation is denied
# `task_ended`. Needs `jitp` on PATH and curl; leaves nothing behind.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/tokens" <<'EOF'
bot-token ServiceAccount deploy-bot
alice-token Approver alice
carol-token Approver carol
eve-token Approver eve
vault-token
EOF
cat >"$work/entities.json" <<'EOF'
{
  "ServiceAccount": {"deploy-bot": {"team": "platform", "env": "prod", "roles": ["deployer"]}},
  "Approver": {"alice": {"team": "platform"}, "carol": {"team": "platform"},
               "eve": {"team": "payments"}},
  "Secret": {"db-password": {"env": "prod", "path": "/db", "revoked": false}}
}
EOF

jitp serve --policy "$here/policy.jitp" --entities "$work/entities.json" \
  --tokens "$work/tokens" --tasks "sqlite:$work/tasks.db" \
  --listen 127.0.0.1:0 2>"$work/serve.log" &
server=$!
base=""
for _ in $(seq 200); do
  base="$(sed -n 's/^listening on //p' "$work/serve.log")"
  [ -n "$base" ] && break
  sleep 0.05
done
if [ -z "$base" ]; then
  cat "$work/serve.log" >&2
  exit 1
fi
export JITP_SERVER="$base"

# An approved change ticket whose window is open.
change='{"ticket": {"id": "CHG-1", "status": "approved",
  "window": {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}},
  "risk": 10, "source_ip": "10.1.2.3"}'

echo "== the deploy bot requests a rotation"
JITP_TOKEN=bot-token jitp task request rotate_prod_secrets \
  --principal ServiceAccount:deploy-bot --justification "quarterly rotation" \
  --ticket CHG-1 >"$work/task.json"
cat "$work/task.json"
id="$(sed -n 's/^  "id": "\(.*\)",$/\1/p' "$work/task.json")"

echo "== neither the bot nor an approver from another team can approve it"
for token in bot-token eve-token; do
  if JITP_TOKEN=$token jitp task approve "$id" --context "$change"; then
    echo "$token approved" >&2
    exit 1
  fi
done

echo "== two platform approvers approve it; the second approval starts it"
JITP_TOKEN=alice-token jitp task approve "$id" --context "$change" |
  grep '"state": "requested"'
JITP_TOKEN=carol-token jitp task approve "$id" --context "$change" |
  grep '"state": "active"'

rotate() {
  curl -sS "$base/v1/decide" \
    -H 'authorization: Bearer vault-token' -H 'content-type: application/json' \
    -d '{"subject": {"type": "ServiceAccount", "id": "deploy-bot"},
         "action": {"name": "secrets.rotate"},
         "resource": {"type": "Secret", "id": "db-password"},
         "context": '"$change"',
         "task": {"id": "'"$id"'"}}'
}

echo "== the vault asks: granted for the task's 15 minutes"
rotate | tee "$work/granted.json"
grep -q '"decision": "allow"' "$work/granted.json"

echo "== the rotation is done: the bot ends its task"
JITP_TOKEN=bot-token jitp task end "$id" | grep '"state": "ended"'

echo "== the next rotation is denied"
rotate | tee "$work/denied.json"
grep -q '"reason": "task_ended"' "$work/denied.json"
