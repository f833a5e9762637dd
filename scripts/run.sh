#!/usr/bin/env bash
# Set everything up, build the reference model once, start a local Redis, serve on localhost.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export GROUNDING_REDIS_URL=${GROUNDING_REDIS_URL:-redis://127.0.0.1:6379/0}
port=$(.venv/bin/python -c "import urllib.parse,os;print(urllib.parse.urlparse(os.environ['GROUNDING_REDIS_URL']).port or 6379)")
if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
  mkdir -p var/redis
  # append-only file in var/redis: the records survive a restart (scripts/redis-local.conf)
  redis-server "$PWD/scripts/redis-local.conf" --port "$port" --daemonize yes \
    --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log"
  echo "started redis-server on port $port (data in var/redis)"
else
  redis_dir=$(redis-cli -p "$port" config get dir 2>/dev/null | sed -n 2p || true)
  if [ "$redis_dir" != "$PWD/var/redis" ]; then
    echo "note: using the Redis already answering on port $port (data in ${redis_dir:-an unknown folder}," \
      "not this project's var/redis); to use a fresh one, set GROUNDING_REDIS_URL=redis://127.0.0.1:<free port>/0"
  fi
fi
if [ -n "${GROUNDING_MODEL_PATH:-}" ]; then
  # a checkpoint that cannot load stops here with one line, not in a worker restart loop
  if ! .venv/bin/grounding-audit check-model "$GROUNDING_MODEL_PATH" --device cpu >/dev/null; then
    echo "GROUNDING_MODEL_PATH=$GROUNDING_MODEL_PATH cannot be served (see above);" \
      "check a checkpoint with: .venv/bin/grounding-audit check-model PATH" >&2
    exit 2
  fi
else
  # the reference models ship with the repository (models/reference/): nothing is trained
  .venv/bin/grounding-audit prepare --which "${GROUNDING_REFERENCE_MODEL:-grounded_reasoner}"
fi
# loopback only: with the development key and HMAC secret (the defaults) the service refuses any
# other address; to serve other hosts, set GROUNDING_API_KEYS, GROUNDING_HMAC_SECRET and BENTOML_HOST
exec .venv/bin/bentoml serve service.service:GroundingService \
  --host "${BENTOML_HOST:-127.0.0.1}" --port "${PORT:-3000}"
