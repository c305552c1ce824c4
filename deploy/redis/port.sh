# The port of an address "host:port", or $2 when it is only "host".
case "$1" in
  *:*) echo "${1##*:}" ;;
  *) echo "$2" ;;
esac
