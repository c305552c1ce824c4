# A Redis server of the replicated topology (Kubernetes: deploy/kubernetes/redis.yaml; Compose:
# compose.yaml). From the environment: REDIS_ANNOUNCE, this server's name as the others reach it;
# REDIS_FIRST_PRIMARY, the primary at the very first start; REDIS_SENTINEL_HOSTS, the sentinels to ask
# for the primary (space-separated); the users' passwords (REDIS_<USER>_PASSWORD). Addresses are
# "host" or "host:port"; REDIS_PORT (6379), REDIS_CONFIG_DIR (/config) and REDIS_DATA_DIR (/data)
# have the containers' values by default (tests/integration/test_redis_deploy_scripts.py runs the
# topology on loopback with other ones).
set -eu
umask 077
port="${REDIS_PORT:-6379}"
config="${REDIS_CONFIG_DIR:-/config}"
data="${REDIS_DATA_DIR:-/data}"
sh "$config/render.sh" "$config/users.acl.template" > "$data/users.acl"
# The primary is whoever the sentinels say; when none answers (the first start), the first one.
primary="$(sh "$config/primary.sh" | tr ' ' ':')"
{
  echo "port $port"
  echo "dir $data"
  echo "appendonly yes"
  echo "appendfsync always"
  echo "aclfile $data/users.acl"
  echo "masteruser replication"
  echo "replica-announce-ip $REDIS_ANNOUNCE"
  echo "replica-announce-port $port"
  echo "min-replicas-to-write 1"
  echo "min-replicas-max-lag 10"
  echo "repl-diskless-sync-delay 0"
  [ "$primary" = "$REDIS_ANNOUNCE:$port" ] || echo "replicaof ${primary%:*} ${primary##*:}"
} > "$data/redis.conf"
exec redis-server "$data/redis.conf" --masterauth "$REDIS_REPLICATION_PASSWORD"
