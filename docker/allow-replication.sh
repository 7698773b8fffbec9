#!/bin/sh
# Run once by the postgres image when it makes its database (/docker-entrypoint-initdb.d):
# lets the `postgres-replica` service (docker compose --profile replica) stream from this
# server as the ledger user, with its password. The image's own entry covers "all" databases,
# which does not include replication connections.
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
