# ${NAME_SHA256} in a template becomes the SHA-256 of the environment variable NAME.
set -eu
for name in $(env | sed -n 's/^\(REDIS_[A-Z_]*_PASSWORD\)=.*/\1/p'); do
  eval "value=\${$name}"
  export "${name}_SHA256=$(printf %s "$value" | sha256sum | cut -d' ' -f1)"
done
awk '{ while (match($0, /\$\{[A-Z0-9_]+\}/)) {
         name = substr($0, RSTART + 2, RLENGTH - 3)
         $0 = substr($0, 1, RSTART - 1) ENVIRON[name] substr($0, RSTART + RLENGTH) }
       print }' "$1"
