#!/usr/bin/env bash
# Break-glass end to end, with the task held by the decision service:
# an operator requests it, two on-call peers approve it, the database query
# is granted, the operator ends it, and the next query is denied
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

# Who calls: a token per line, with the caller's identity where it acts
# on tasks. The gateway (the PEP) asks for decisions only.
cat >"$work/tokens" <<'EOF'
operator-token Operator sre-ana
bob-token Engineer bob
chen-token Engineer chen
gateway-token
EOF
cat >"$work/entities.json" <<'EOF'
{
  "Operator": {"sre-ana": {"team": "sre", "oncall": true, "groups": ["sre"]}},
  "Engineer": {"bob": {"oncall": true}, "chen": {"oncall": true}},
  "Database": {"orders-db": {"env": "prod", "cluster": "orders-eu", "contains_pii": false}}
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

incident='{"incident": {"id": "INC-881", "status": "open", "severity": "sev1",
  "opened_at": "2026-11-22T03:02:00Z"}, "risk": 30, "source_ip": "10.8.4.21"}'

echo "== the operator requests break-glass"
JITP_TOKEN=operator-token jitp task request incident_response \
  --principal Operator:sre-ana --justification "INC-881: orders replica lag" \
  --ticket INC-881 >"$work/task.json"
cat "$work/task.json"
id="$(sed -n 's/^  "id": "\(.*\)",$/\1/p' "$work/task.json")"

echo "== the operator cannot approve it"
if JITP_TOKEN=operator-token jitp task approve "$id" --context "$incident"; then
  echo "self-approval was accepted" >&2
  exit 1
fi

echo "== two on-call peers approve it"
JITP_TOKEN=bob-token jitp task approve "$id" --context "$incident" >/dev/null
JITP_TOKEN=chen-token jitp task approve "$id" --context "$incident" |
  grep '"state": "active"'

decide() {
  curl -sS "$base/access/v1/evaluation" \
    -H 'authorization: Bearer gateway-token' -H 'content-type: application/json' \
    -d '{"subject": {"type": "Operator", "id": "sre-ana"},
         "action": {"name": "db.query"},
         "resource": {"type": "Database", "id": "orders-db"},
         "context": {"jitp_task_id": "'"$id"'",
                     "incident": {"id": "INC-881", "status": "open", "severity": "sev1",
                                  "opened_at": "2026-11-22T03:02:00Z"},
                     "risk": 30, "source_ip": "10.8.4.21"},
         "evidence": {"justification": "INC-881: inspecting replication"}}'
  echo
}

echo "== the active tasks"
JITP_TOKEN=gateway-token jitp task list

echo "== the gateway asks: granted, with notify and audit"
decide | tee "$work/granted.json"
grep -q '"decision":true' "$work/granted.json"

echo "== the operator ends it"
JITP_TOKEN=operator-token jitp task end "$id" | grep '"state": "ended"'

echo "== the next request is denied"
decide | tee "$work/denied.json"
grep -q '"reason":"task_ended"' "$work/denied.json"
