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
  echo "started redis-server on port $port"
fi
# only the reference model that will be served is trained (a few minutes on two cores, once)
if [ -z "${GROUNDING_MODEL_PATH:-}" ]; then
  .venv/bin/grounding-audit prepare --which "${GROUNDING_REFERENCE_MODEL:-grounded_reasoner}"
fi
# loopback only: with the development key and HMAC secret (the defaults) the service refuses any
# other address; to serve other hosts, set GROUNDING_API_KEYS, GROUNDING_HMAC_SECRET and BENTOML_HOST
exec .venv/bin/bentoml serve service.service:GroundingService \
  --host "${BENTOML_HOST:-127.0.0.1}" --port "${PORT:-3000}"
