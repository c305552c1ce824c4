# Where the primary is, as "host port": what the first sentinel that answers says (REDIS_SENTINEL_HOSTS),
# else, at the very first start, REDIS_FIRST_PRIMARY.
config="${REDIS_CONFIG_DIR:-/config}"
for sentinel in $REDIS_SENTINEL_HOSTS; do
  answer="$(redis-cli -h "${sentinel%:*}" -p "$(sh "$config/port.sh" "$sentinel" 26379)" \
    --user sentinel --pass "$REDIS_SENTINEL_PASSWORD" --no-auth-warning \
    sentinel get-master-addr-by-name gateway 2>/dev/null || true)"
  primary="$(printf '%s\n' "$answer" | sed -n '1h;2{H;x;s/\n/ /p}')"
  if [ -n "$primary" ]; then
    echo "$primary"
    exit 0
  fi
done
echo "${REDIS_FIRST_PRIMARY%:*} $(sh "$config/port.sh" "$REDIS_FIRST_PRIMARY" 6379)"
