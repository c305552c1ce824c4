# A Redis server of the replicated topology (Kubernetes: deploy/kubernetes/redis.yaml; Compose:
# compose.yaml). From the environment: REDIS_ANNOUNCE, this server's name as the others reach it;
# REDIS_FIRST_PRIMARY, the primary's name at the very first start; REDIS_SENTINEL_HOSTS, the sentinels
# to ask for the primary (space-separated); the users' passwords (REDIS_<USER>_PASSWORD).
set -eu
umask 077
sh /config/render.sh /config/users.acl.template > /data/users.acl
# The primary is whoever the sentinels say; when none answers (the first start), the first one.
primary=""
for host in $REDIS_SENTINEL_HOSTS; do
  primary="$(redis-cli -h "$host" -p 26379 --user sentinel --pass "$REDIS_SENTINEL_PASSWORD" \
    --no-auth-warning sentinel get-master-addr-by-name gateway 2>/dev/null | head -n 1 || true)"
  [ -z "$primary" ] || break
done
[ -n "$primary" ] || primary="$REDIS_FIRST_PRIMARY"
{
  echo "port 6379"
  echo "dir /data"
  echo "appendonly yes"
  echo "appendfsync always"
  echo "aclfile /data/users.acl"
  echo "masteruser replication"
  echo "replica-announce-ip $REDIS_ANNOUNCE"
  echo "min-replicas-to-write 1"
  echo "min-replicas-max-lag 10"
  echo "repl-diskless-sync-delay 0"
  [ "$primary" = "$REDIS_ANNOUNCE" ] || echo "replicaof $primary 6379"
} > /data/redis.conf
exec redis-server /data/redis.conf --masterauth "$REDIS_REPLICATION_PASSWORD"
