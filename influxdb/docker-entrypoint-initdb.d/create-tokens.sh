#!/bin/bash
# Least privilege for the docker compose stack: at InfluxDB's first start (the influxdb image runs
# /docker-entrypoint-initdb.d/*.sh once, after its setup, with the influx CLI logged in as the
# admin), create two tokens for the bucket and keep them in the tokens volume:
#   grafana.token          read-only: Grafana's data sources (mode 0644: Grafana runs as its own user)
#   target-influxdb.token  write-only: for `meltano run` (INFLUXDB_TOKEN in .env; mode 0600)
# Neither token is printed. A token whose file exists is not made again, so the script can be
# run by hand on a stack set up before it existed:
#   docker compose exec influxdb /docker-entrypoint-initdb.d/create-tokens.sh
set -euo pipefail

tokens=${WATTIVAHTI_TOKENS_DIR:-/var/lib/wattivahti-tokens}
org=${DOCKER_INFLUXDB_INIT_ORG:?the influxdb image sets DOCKER_INFLUXDB_INIT_ORG}
bucket=${DOCKER_INFLUXDB_INIT_BUCKET:?the influxdb image sets DOCKER_INFLUXDB_INIT_BUCKET}
# The image exports the bucket's ID to its init scripts; by hand, ask for it.
bucket_id=${DOCKER_INFLUXDB_INIT_BUCKET_ID:-$(influx bucket list --org "$org" --name "$bucket" --hide-headers | cut -f 1)}
if [ -z "$bucket_id" ]; then
    echo "create-tokens.sh: no bucket '$bucket' in org '$org'" >&2
    exit 1
fi

mkdir -p "$tokens"
chmod 755 "$tokens"

# create NAME PERMISSION MODE: a token with one permission on the bucket, in $tokens/NAME.token
create() {
    local file="$tokens/$1.token"
    if [ -s "$file" ]; then
        echo "create-tokens.sh: $file exists; left as it is"
        return
    fi
    local answer token
    answer=$(influx auth create --org "$org" "$2" "$bucket_id" \
        --description "$1: $2 $bucket (docker compose)" --json)
    token=$(printf '%s\n' "$answer" | sed -n 's/.*"token":[[:space:]]*"\([^"]*\)".*/\1/p')
    if [ -z "$token" ]; then
        echo "create-tokens.sh: influx auth create gave no token for $1" >&2
        exit 1
    fi
    (umask 077 && printf '%s' "$token" > "$file.tmp")
    chmod "$3" "$file.tmp"
    mv "$file.tmp" "$file"
    echo "create-tokens.sh: created the $2 token $file"
}

create grafana --read-bucket 644
create target-influxdb --write-bucket 600
