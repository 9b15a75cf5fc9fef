#!/usr/bin/env bash
# The main job on the embedded defaults: install, ingest the bundled sample documents, start
# the gateway on 127.0.0.1, ask one question over HTTP and print the cited answer. The gateway
# keeps running afterwards; the last lines say how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

export LOCKGATE_HOME=${LOCKGATE_HOME:-.lockgate}
PORT=${LOCKGATE_SERVER__PORT:-8080}
export LOCKGATE_SERVER__PORT=$PORT
LG=.venv/bin/lockgate
mkdir -p "$LOCKGATE_HOME"

# The gateway refuses callers without a key, so the demo makes one for itself, once, the way
# an operator bootstraps any deployment (`lockgate keys create` on the host), and keeps it
# readable by this user only.
KEY_FILE="$LOCKGATE_HOME/demo.key"
if [ ! -s "$KEY_FILE" ]; then
  echo "== 0. create a demo API key (kept in $KEY_FILE, mode 0600)"
  (
    umask 077
    $LG keys create --name demo --tenant default --role developer --json |
      .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["key"])' >"$KEY_FILE.tmp"
    mv "$KEY_FILE.tmp" "$KEY_FILE"
  )
fi
chmod 600 "$KEY_FILE"

echo "== 1. ingest samples/corpus"
$LG ingest samples/corpus

if curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
  echo "== 2. gateway already running on 127.0.0.1:$PORT"
else
  echo "== 2. start the gateway on 127.0.0.1:$PORT"
  nohup $LG serve --host 127.0.0.1 --port "$PORT" >"$LOCKGATE_HOME/server.log" 2>&1 &
  echo $! >"$LOCKGATE_HOME/server.pid"
  for _ in $(seq 1 180); do
    curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    if ! kill -0 "$(cat "$LOCKGATE_HOME/server.pid")" 2>/dev/null; then
      echo "lockgate: the gateway exited; see $LOCKGATE_HOME/server.log" >&2
      exit 1
    fi
    sleep 1
  done
fi

QUESTION=${1:-"How long do I have to request a refund on an annual plan?"}
echo "== 3. ask: $QUESTION"
LOCKGATE_API_KEY=$(cat "$KEY_FILE") $LG ask "$QUESTION" --url "http://127.0.0.1:$PORT"

cat <<MSG

The gateway is running: OpenAI base URL http://127.0.0.1:$PORT/v1 (model "lockgate").
  api key: the demo key is in $KEY_FILE (send it as "Authorization: Bearer <key>")
  traces:  $LG traces list
  stop:    kill \$(cat $LOCKGATE_HOME/server.pid)
  restart: LOCKGATE_HOME=$LOCKGATE_HOME $LG serve --port $PORT
MSG
