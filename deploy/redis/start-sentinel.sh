# A sentinel of the replicated topology (quorum 2 of 3). From the environment: REDIS_ANNOUNCE, this
# sentinel's name as the others reach it; REDIS_FIRST_PRIMARY; REDIS_SENTINEL_HOSTS; the passwords;
# SENTINEL_PORT (26379), REDIS_CONFIG_DIR and REDIS_DATA_DIR as for start-redis.sh.
set -eu
umask 077
port="${SENTINEL_PORT:-26379}"
config="${REDIS_CONFIG_DIR:-/config}"
data="${REDIS_DATA_DIR:-/data}"
primary="$(sh "$config/primary.sh")"
# Sentinel rewrites its file (the primary it follows): a writable copy, made at each start.
{
  echo "port $port"
  echo "dir $data"
  echo "sentinel resolve-hostnames yes"
  echo "sentinel announce-hostnames yes"
  echo "sentinel announce-ip $REDIS_ANNOUNCE"
  echo "sentinel announce-port $port"
  echo "sentinel monitor gateway $primary 2"
  echo "sentinel down-after-milliseconds gateway ${SENTINEL_DOWN_AFTER_MS:-5000}"
  echo "sentinel failover-timeout gateway ${SENTINEL_FAILOVER_TIMEOUT_MS:-60000}"
  echo "sentinel parallel-syncs gateway 1"
  echo "sentinel auth-user gateway sentinel"
  echo "sentinel auth-pass gateway $REDIS_SENTINEL_PASSWORD"
  echo "sentinel sentinel-user sentinel"
  echo "sentinel sentinel-pass $REDIS_SENTINEL_PASSWORD"
  sh "$config/render.sh" "$config/sentinel-users.template"
} > "$data/sentinel.conf"
exec redis-sentinel "$data/sentinel.conf"
