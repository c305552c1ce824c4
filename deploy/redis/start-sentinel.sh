# A sentinel of the replicated topology (quorum 2 of 3). From the environment: REDIS_ANNOUNCE, this
# sentinel's name as the others reach it; REDIS_FIRST_PRIMARY; REDIS_SENTINEL_HOSTS; the passwords.
set -eu
umask 077
primary=""
for host in $REDIS_SENTINEL_HOSTS; do
  primary="$(redis-cli -h "$host" -p 26379 --user sentinel --pass "$REDIS_SENTINEL_PASSWORD" \
    --no-auth-warning sentinel get-master-addr-by-name gateway 2>/dev/null | head -n 1 || true)"
  [ -z "$primary" ] || break
done
[ -n "$primary" ] || primary="$REDIS_FIRST_PRIMARY"
# Sentinel rewrites its file (the primary it follows): a writable copy, made at each start.
{
  echo "port 26379"
  echo "dir /data"
  echo "sentinel resolve-hostnames yes"
  echo "sentinel announce-hostnames yes"
  echo "sentinel announce-ip $REDIS_ANNOUNCE"
  echo "sentinel monitor gateway $primary 6379 2"
  echo "sentinel down-after-milliseconds gateway 5000"
  echo "sentinel failover-timeout gateway 60000"
  echo "sentinel parallel-syncs gateway 1"
  echo "sentinel auth-user gateway sentinel"
  echo "sentinel auth-pass gateway $REDIS_SENTINEL_PASSWORD"
  echo "sentinel sentinel-user sentinel"
  echo "sentinel sentinel-pass $REDIS_SENTINEL_PASSWORD"
  sh /config/render.sh /config/sentinel-users.template
} > /data/sentinel.conf
exec redis-sentinel /data/sentinel.conf
